//! Merges a regional customers collection (`customers_eu`, `customers_us`)
//! into `customers`: each customer is inserted there with its `region`
//! appended and deleted from its regional collection. One migration per
//! regional collection calls [`merge`] with its region.
//!
//! `_id`s stay as they are: if two regions share one, the second insert
//! fails naming both documents, and nothing of its batch is written.
//!
//! There is no backward direction: a backward run reads the regional
//! collection, which the merge left empty. `down` restores from the run's
//! pre-images (the regional customers back byte for byte, the merged ones
//! deleted).

use mongoshift_guest::{Context, Document, Outcome};

/// The collection both regions merge into (declared in `outputs`).
pub const CUSTOMERS: &str = "customers";

/// Moves `customer` into [`CUSTOMERS`] with `region` appended.
pub fn merge(mut customer: Document, region: &str, cx: &mut Context) -> Outcome {
    if let Some(had) = customer.get("region") {
        return Outcome::fail(format!(
            "field `region`: the customer has one already ({had}); rename it before merging"
        ));
    }
    customer.insert("region", region);
    cx.insert(CUSTOMERS, customer);
    Outcome::Delete
}

#[cfg(test)]
mod tests {
    use mongoshift_guest::{doc, native, Encoded, OutputOp, RawDocumentBuf};

    use super::*;

    fn eu(c: Document, cx: &mut Context) -> Outcome {
        merge(c, "eu", cx)
    }

    fn run(c: Document) -> (Encoded, Vec<mongoshift_guest::Output>) {
        let raw = |d: &Document| RawDocumentBuf::from_document(d).expect("raw");
        let (c, l) = (raw(&c), raw(&doc! {}));
        let batch = native::batch_v2([(c.as_ref(), l.as_ref())]);
        native::run_v2(eu, &batch).remove(0)
    }

    #[test]
    fn a_customer_moves_with_its_region() {
        let (outcome, outputs) = run(doc! { "_id": 4, "name": "Ada" });
        assert_eq!(outcome, Encoded::Delete);
        assert_eq!(
            (outputs[0].op, outputs[0].collection.as_str()),
            (OutputOp::Insert, CUSTOMERS)
        );
        assert_eq!(
            outputs[0].document.to_document().expect("doc"),
            doc! { "_id": 4, "name": "Ada", "region": "eu" }
        );
    }

    #[test]
    fn a_customer_with_a_region_already_fails_and_moves_nowhere() {
        let (outcome, outputs) = run(doc! { "_id": 4, "region": "apac" });
        assert!(
            matches!(&outcome, Encoded::Fail(m) if m.contains("field `region`")),
            "{outcome:?}"
        );
        assert!(outputs.is_empty());
    }
}
