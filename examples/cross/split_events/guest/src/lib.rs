//! Splits a collection by a field: each event of `events` moves, byte for
//! byte, into the collection named after its `type` (`events_click`,
//! `events_view`) and is deleted from `events`.
//!
//! An event of another type, or without one, fails naming the field rather
//! than staying behind unnoticed; a new type needs its collection in the
//! manifest's `outputs` (which bound where the module may write) and here.
//!
//! There is no backward direction: a backward run reads the migration's own
//! collection, which the split left empty. `down` restores from the
//! pre-images the run keeps: every event back in `events` as it was, every
//! copy deleted.

use mongoshift_guest::{transform, Context, Outcome, RawDocument};

/// Each type the split knows, and the collection its events move to.
const SPLIT: [(&str, &str); 2] = [("click", "events_click"), ("view", "events_view")];

#[transform(name = "split_events")]
pub fn split_events(event: &RawDocument, cx: &mut Context) -> Outcome {
    let Ok(kind) = event.get_str("type") else {
        return Outcome::fail(
            "field `type`: missing or not a string (expected \"click\" or \"view\")",
        );
    };
    match SPLIT.iter().find(|(k, _)| *k == kind) {
        Some((_, to)) => {
            cx.insert(*to, event);
            Outcome::Delete
        }
        None => Outcome::fail(format!(
            "field `type`: {kind:?} is not \"click\" or \"view\"; declare its collection in the manifest's outputs and add it to the split"
        )),
    }
}

#[cfg(test)]
mod tests {
    use mongoshift_guest::{doc, native, Document, Encoded, OutputOp, RawDocumentBuf};

    use super::*;

    fn run(event: Document) -> (Encoded, Vec<mongoshift_guest::Output>) {
        let (e, l) = (
            RawDocumentBuf::from_document(&event).expect("raw"),
            RawDocumentBuf::from_document(&doc! {}).expect("raw"),
        );
        let batch = native::batch_v2([(e.as_ref(), l.as_ref())]);
        native::run_v2(split_events, &batch).remove(0)
    }

    #[test]
    fn each_event_moves_as_it_is_to_its_types_collection() {
        for (kind, to) in SPLIT {
            let event = doc! { "_id": 3, "type": kind, "at": 17, "page": "/" };
            let (outcome, outputs) = run(event.clone());
            assert_eq!(outcome, Encoded::Delete);
            assert_eq!(outputs.len(), 1);
            assert_eq!(
                (outputs[0].op, outputs[0].collection.as_str()),
                (OutputOp::Insert, to)
            );
            assert_eq!(outputs[0].document.to_document().expect("doc"), event);
        }
    }

    #[test]
    fn an_event_of_no_known_type_fails_and_moves_nowhere() {
        for (event, says) in [
            (doc! { "_id": 1, "type": "scroll" }, "\"scroll\" is not"),
            (doc! { "_id": 1 }, "missing or not a string"),
            (doc! { "_id": 1, "type": 5 }, "missing or not a string"),
        ] {
            let (outcome, outputs) = run(event);
            assert!(
                matches!(&outcome, Encoded::Fail(m) if m.contains(says)),
                "{outcome:?}"
            );
            assert!(outputs.is_empty());
        }
    }
}
