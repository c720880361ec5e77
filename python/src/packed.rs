//! A batch's outcomes encoded in one call (`mongoshift._runtime.encode_all`):
//! the bytes of one BSON document whose array `o` holds, for each document
//! of the batch, its replacement (a document) or `null` (delete it).
//!
//! One `bson.encode` over the whole list costs about half of one call per
//! document. The only difference from encoding each document alone is where
//! the `_id` goes: `bson.encode` writes a document's `_id` first, an
//! embedded document keeps its keys' order, so [`unpack`] moves the `_id`
//! first. Each replacement is then byte for byte what `bson.encode` makes
//! of it, and the engine checks it as any other.

use bson::{RawBsonRef, RawDocument};
use mongoshift::pipeline::TransformError;
use mongoshift::wasm::{Outcome, OutcomeError};

/// The outcomes in `packed`, one per element of its array `o`.
pub(crate) fn unpack(packed: &[u8]) -> Result<Vec<Outcome>, TransformError> {
    let array = RawDocument::from_bytes(packed)
        .map_err(|e| e.to_string())
        .and_then(|d| d.get_array("o").map_err(|e| e.to_string()))
        .map_err(|e| -> TransformError {
            format!("the Python worker's packed outcomes are not one BSON document with an array `o`: {e}").into()
        })?;
    let mut outcomes = Vec::new();
    for (i, value) in array.into_iter().enumerate() {
        let outcome = match value {
            Ok(RawBsonRef::Document(d)) => Outcome::Replace(id_first(d).map_err(|e| at(i, &e))?),
            Ok(RawBsonRef::Null) => Outcome::Delete,
            Ok(other) => {
                return Err(at(
                    i,
                    &format!(
                        "the Python worker packed a {:?} for it; a packed outcome is a document (replace) or null (delete)",
                        other.element_type()
                    ),
                ))
            }
            Err(e) => return Err(at(i, &e.to_string())),
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

fn at(index: usize, message: &str) -> TransformError {
    Box::new(OutcomeError {
        index: Some(index),
        message: message.to_string(),
    })
}

/// `doc` with its top-level `_id` element (if any) moved first, the others
/// in their order: what `bson.encode` writes for the same mapping.
fn id_first(doc: &RawDocument) -> Result<Vec<u8>, String> {
    let bytes = doc.as_bytes();
    // Most often the first key already: its type byte, then `_id` and its nul.
    if bytes.get(5..9) == Some(b"_id\0") {
        return Ok(bytes.to_vec());
    }
    // Where each element starts: after the length, one after another.
    let mut start = 4;
    for (n, element) in doc.iter_elements().enumerate() {
        let element = element.map_err(|e| format!("its replacement is not valid BSON: {e}"))?;
        let end = start + 1 + element.key().len() + 1 + element.len();
        if element.key() == "_id" {
            if n == 0 {
                break;
            }
            let mut out = Vec::with_capacity(bytes.len());
            out.extend_from_slice(&bytes[..4]);
            out.extend_from_slice(&bytes[start..end]);
            out.extend_from_slice(&bytes[4..start]);
            out.extend_from_slice(&bytes[end..]);
            return Ok(out);
        }
        start = end;
    }
    Ok(bytes.to_vec())
}
