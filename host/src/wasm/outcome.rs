//! What a transform decides for each document, and the byte layout a core
//! module returns it in (`guest-sdk/ABI.md`).
//!
//! The parser takes nothing on trust: the record count, each record's tag and
//! length, and the end of the payload are all checked, and an error names the
//! record (so the pipeline can name its document's `_id`).

use crate::text;

/// What the transform decided for one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Leave it.
    Keep,
    /// Replace it with these BSON bytes.
    Replace(Vec<u8>),
    /// Delete it.
    Delete,
    /// It cannot be transformed: the transform's message, cut to
    /// [`MAX_MESSAGE_BYTES`](crate::text::MAX_MESSAGE_BYTES) with its control
    /// characters escaped.
    Fail(String),
}

/// Outcomes that break the contract. `index` is the place in the batch of the
/// document whose outcome is wrong, when there is one: the pipeline shows that
/// document's `_id`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OutcomeError {
    /// The document's place in its batch (0-based), when one outcome is at fault.
    pub index: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl OutcomeError {
    fn at(index: usize, message: String) -> OutcomeError {
        OutcomeError {
            index: Some(index),
            message,
        }
    }
}

/// Parses the outcomes payload of ABI.md for a batch of `expected` documents.
pub(crate) fn parse_outcomes(p: &[u8], expected: usize) -> Result<Vec<Outcome>, OutcomeError> {
    let u32_at = |at: usize| -> Option<usize> {
        p.get(at..at.checked_add(4)?)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = u32_at(0).ok_or_else(|| OutcomeError {
        index: None,
        message: format!(
            "the outcomes payload is {} bytes, too short for its 4-byte count",
            p.len()
        ),
    })?;
    if count != expected {
        return Err(OutcomeError {
            index: None,
            message: format!(
                "{count} outcomes for a batch of {expected} documents (there must be one per document)"
            ),
        });
    }
    let mut out = Vec::with_capacity(count);
    let mut at = 4;
    for i in 0..count {
        let (Some(&tag), Some(n)) = (p.get(at), u32_at(at + 1)) else {
            return Err(OutcomeError::at(
                i,
                format!(
                    "the outcomes end at byte {} without this document's record (a record is a 1-byte tag and a 4-byte length)",
                    p.len()
                ),
            ));
        };
        let body = p.get(at + 5..at + 5 + n).ok_or_else(|| {
            OutcomeError::at(
                i,
                format!(
                    "its outcome record claims {n} bytes but only {} follow",
                    p.len() - (at + 5)
                ),
            )
        })?;
        out.push(match tag {
            0 | 2 if n != 0 => {
                let what = if tag == 0 { "keep" } else { "delete" };
                return Err(OutcomeError::at(
                    i,
                    format!("its {what} outcome carries {n} bytes (keep and delete carry none)"),
                ));
            }
            0 => Outcome::Keep,
            1 => Outcome::Replace(body.to_vec()),
            2 => Outcome::Delete,
            // Cut before it is copied: a guest may send a message of any size.
            3 => Outcome::Fail(text::message(body)),
            t => {
                return Err(OutcomeError::at(
                    i,
                    format!(
                        "its outcome has the unknown tag {t} (0 keep, 1 replace, 2 delete, 3 fail)"
                    ),
                ))
            }
        });
        at += 5 + n;
    }
    if at != p.len() {
        return Err(OutcomeError {
            index: None,
            message: format!(
                "{} bytes follow the last of the {count} outcomes (the payload must end there)",
                p.len() - at
            ),
        });
    }
    Ok(out)
}
