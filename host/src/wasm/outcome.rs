//! The byte layout a core module returns its outcomes in (`guest-sdk/ABI.md`).
//!
//! The parser takes nothing on trust: the record count, each record's tag and
//! length, and the end of the payload are all checked, and an error names the
//! record (so the pipeline can name its document's `_id`).

use crate::batch::{Outcome, OutcomeError};
use crate::text;

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
