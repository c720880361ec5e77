//! Archives old orders into another database of the same deployment: each
//! order the manifest's `filter` selects (`created_at` before the cut-off)
//! is inserted, byte for byte, into `archive_db.orders` and deleted from
//! `orders`. The cut-off lives in the manifest, where a reviewer sees it and
//! the server selects by it, so the module reads only what it archives.
//!
//! Both writes commit in the batch's transaction, which then spans two
//! databases: a deployment that supports transactions (a replica set, a
//! sharded cluster) supports that too.
//!
//! There is no backward direction: a backward run reads `orders`, where the
//! archived orders no longer are. `down` restores them from the run's
//! pre-images and deletes their archived copies.

use mongoshift_guest::{transform, Context, Outcome, RawDocument};

/// Where old orders go: `database.collection` (declared in `outputs`).
const ARCHIVE: &str = "archive_db.orders";

#[transform(name = "archive_orders")]
pub fn archive_orders(order: &RawDocument, cx: &mut Context) -> Outcome {
    cx.insert(ARCHIVE, order);
    Outcome::Delete
}

#[cfg(test)]
mod tests {
    use mongoshift_guest::{doc, native, Encoded, OutputOp, RawDocumentBuf};

    use super::*;

    #[test]
    fn an_order_moves_as_it_is_to_the_archive() {
        let order = RawDocumentBuf::from_document(&doc! { "_id": 9, "total": 12.5 }).expect("raw");
        let none = RawDocumentBuf::from_document(&doc! {}).expect("raw");
        let batch = native::batch_v2([(order.as_ref(), none.as_ref())]);
        let (outcome, outputs) = native::run_v2(archive_orders, &batch).remove(0);
        assert_eq!(outcome, Encoded::Delete);
        assert_eq!(outputs.len(), 1);
        assert_eq!(
            (outputs[0].op, outputs[0].collection.as_str()),
            (OutputOp::Insert, ARCHIVE)
        );
        assert_eq!(outputs[0].document, order);
    }
}
