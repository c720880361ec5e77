//! The byte layout a core module returns its outcomes in (`guest-sdk/ABI.md`),
//! for contract version 1 (records) and 2 (each record followed by the
//! document's outputs).
//!
//! The parser takes nothing on trust: the record count, each record's tag and
//! length, each output's op and lengths, and the end of the payload are all
//! checked, and an error names the record (so the pipeline can name its
//! document's `_id`).

use crate::batch::{Outcome, OutcomeError, Output, OutputOp};
use crate::text;

/// Parses the outcomes payload of ABI.md (version 1) for a batch of
/// `expected` documents.
pub(crate) fn parse_outcomes(p: &[u8], expected: usize) -> Result<Vec<Outcome>, OutcomeError> {
    parse(p, expected, None)
}

/// Parses the outcomes payload of ABI.md's version 2 for a batch of
/// `expected` documents: the outcomes, and each document's outputs.
pub(crate) fn parse_outcomes_v2(
    p: &[u8],
    expected: usize,
) -> Result<(Vec<Outcome>, Vec<Vec<Output>>), OutcomeError> {
    let mut outputs = Vec::with_capacity(expected);
    let outcomes = parse(p, expected, Some(&mut outputs))?;
    Ok((outcomes, outputs))
}

/// Refuses outputs from a document that failed: a failed document writes
/// nothing, so that `--on-error quarantine` can set it aside alone.
pub(crate) fn check_fail_has_no_outputs(
    index: usize,
    outcome: &Outcome,
    outputs: &[Output],
) -> Result<(), OutcomeError> {
    match outcome {
        Outcome::Fail(_) if !outputs.is_empty() => Err(OutcomeError::at(
            index,
            format!(
                "its outcome is fail but it emitted {} outputs (a document that fails writes nothing; emit outputs only for documents that succeed)",
                outputs.len()
            ),
        )),
        _ => Ok(()),
    }
}

/// Refuses an output that names no collection (the engine checks names
/// against the manifest; an empty one is never declared, and this says why).
pub(crate) fn check_collection_name(
    index: usize,
    j: usize,
    collection: &str,
) -> Result<(), OutcomeError> {
    if collection.is_empty() {
        return Err(OutcomeError::at(
            index,
            format!("its output {j} names no collection (give one of the manifest's `outputs`)"),
        ));
    }
    Ok(())
}

/// A read position in a payload.
struct Cursor<'a> {
    p: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn u32_at(&self, at: usize) -> Option<usize> {
        self.p
            .get(at..at.checked_add(4)?)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn u32(&mut self) -> Option<usize> {
        let v = self.u32_at(self.at)?;
        self.at += 4;
        Some(v)
    }

    /// The next `n` bytes, or how many there are when fewer.
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], usize> {
        let left = self.p.len() - self.at;
        let body = self.p.get(self.at..self.at.saturating_add(n)).ok_or(left)?;
        self.at += n;
        Ok(body)
    }
}

fn parse(
    p: &[u8],
    expected: usize,
    mut outputs: Option<&mut Vec<Vec<Output>>>,
) -> Result<Vec<Outcome>, OutcomeError> {
    let mut c = Cursor { p, at: 0 };
    let count = c.u32().ok_or_else(|| OutcomeError {
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
    for i in 0..count {
        let outcome = record(&mut c, i)?;
        if let Some(outputs) = outputs.as_deref_mut() {
            let emitted = document_outputs(&mut c, i)?;
            check_fail_has_no_outputs(i, &outcome, &emitted)?;
            outputs.push(emitted);
        }
        out.push(outcome);
    }
    if c.at != p.len() {
        return Err(OutcomeError {
            index: None,
            message: format!(
                "{} bytes follow the last of the {count} outcomes (the payload must end there)",
                p.len() - c.at
            ),
        });
    }
    Ok(out)
}

/// Document `i`'s outcome record.
fn record(c: &mut Cursor<'_>, i: usize) -> Result<Outcome, OutcomeError> {
    let (Some(&tag), Some(n)) = (c.p.get(c.at), c.u32_at(c.at + 1)) else {
        return Err(OutcomeError::at(
            i,
            format!(
                "the outcomes end at byte {} without this document's record (a record is a 1-byte tag and a 4-byte length)",
                c.p.len()
            ),
        ));
    };
    c.at += 5;
    let body = c.bytes(n).map_err(|left| {
        OutcomeError::at(
            i,
            format!("its outcome record claims {n} bytes but only {left} follow"),
        )
    })?;
    Ok(match tag {
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
    })
}

/// Document `i`'s outputs (version 2): a count, then each output.
fn document_outputs(c: &mut Cursor<'_>, i: usize) -> Result<Vec<Output>, OutcomeError> {
    let k = c.u32().ok_or_else(|| {
        OutcomeError::at(
            i,
            format!(
                "the outcomes end at byte {} without this document's output count (contract version 2: a 4-byte count follows each outcome record)",
                c.p.len()
            ),
        )
    })?;
    // The smallest output is 10 bytes (an op, two lengths, a 1-byte name):
    // a count past what is left is not believed for the allocation (the loop
    // below refuses it).
    let mut emitted = Vec::with_capacity(k.min((c.p.len() - c.at) / 10));
    for j in 0..k {
        emitted.push(output(c, i, j)?);
    }
    Ok(emitted)
}

/// Output `j` of document `i`.
fn output(c: &mut Cursor<'_>, i: usize, j: usize) -> Result<Output, OutcomeError> {
    let past_end = |what: &str, n: usize, left: usize| {
        OutcomeError::at(
            i,
            format!("its output {j} claims {what} of {n} bytes but only {left} follow"),
        )
    };
    let (Some(&tag), Some(name_len)) = (c.p.get(c.at), c.u32_at(c.at + 1)) else {
        return Err(OutcomeError::at(
            i,
            format!(
                "the outcomes end at byte {} inside its output {j} (an output is a 1-byte op, a 4-byte length and the collection name, a 4-byte length and the document)",
                c.p.len()
            ),
        ));
    };
    let op = OutputOp::from_tag(tag).ok_or_else(|| {
        OutcomeError::at(
            i,
            format!("its output {j} has the unknown op {tag} (0 insert, 1 upsert, 2 delete)"),
        )
    })?;
    c.at += 5;
    let name = c
        .bytes(name_len)
        .map_err(|left| past_end("a collection name", name_len, left))?;
    let collection = std::str::from_utf8(name).map_err(|_| {
        OutcomeError::at(
            i,
            format!(
                "its output {j} names a collection that is not UTF-8 ({})",
                text::bounded(name, 200)
            ),
        )
    })?;
    check_collection_name(i, j, collection)?;
    let doc_len = c.u32().ok_or_else(|| {
        OutcomeError::at(
            i,
            format!(
                "the outcomes end at byte {} before the document length of its output {j}",
                c.p.len()
            ),
        )
    })?;
    let document = c
        .bytes(doc_len)
        .map_err(|left| past_end("a document", doc_len, left))?;
    Ok(Output {
        op,
        collection: collection.to_string(),
        document: document.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One version-2 record: tag, payload, outputs as (op, name, document).
    type Record<'a> = (u8, &'a [u8], &'a [(u8, &'a [u8], &'a [u8])]);

    fn payload(records: &[Record<'_>]) -> Vec<u8> {
        let mut p = (records.len() as u32).to_le_bytes().to_vec();
        for (tag, body, outputs) in records {
            p.push(*tag);
            p.extend_from_slice(&(body.len() as u32).to_le_bytes());
            p.extend_from_slice(body);
            p.extend_from_slice(&(outputs.len() as u32).to_le_bytes());
            for (op, name, doc) in *outputs {
                p.push(*op);
                p.extend_from_slice(&(name.len() as u32).to_le_bytes());
                p.extend_from_slice(name);
                p.extend_from_slice(&(doc.len() as u32).to_le_bytes());
                p.extend_from_slice(doc);
            }
        }
        p
    }

    const DOC: &[u8] = &[5, 0, 0, 0, 0];

    fn refused(p: &[u8], expected: usize) -> (Option<usize>, String) {
        let e = parse_outcomes_v2(p, expected).expect_err("refused");
        (e.index, e.message)
    }

    #[test]
    fn version_2_records_carry_each_documents_outputs_in_order() {
        let p = payload(&[
            (0, b"", &[(1, b"copies", DOC), (0, b"other.archive", DOC)]),
            (3, b"bad", &[]),
            (1, DOC, &[(2, b"copies", DOC)]),
        ]);
        let (outcomes, outputs) = parse_outcomes_v2(&p, 3).expect("well formed");
        assert_eq!(
            outcomes,
            [
                Outcome::Keep,
                Outcome::Fail("bad".into()),
                Outcome::Replace(DOC.to_vec())
            ]
        );
        let shown: Vec<Vec<(OutputOp, &str)>> = outputs
            .iter()
            .map(|o| o.iter().map(|o| (o.op, o.collection.as_str())).collect())
            .collect();
        assert_eq!(
            shown,
            [
                vec![
                    (OutputOp::Upsert, "copies"),
                    (OutputOp::Insert, "other.archive")
                ],
                vec![],
                vec![(OutputOp::Delete, "copies")]
            ]
        );
        assert_eq!(outputs[0][0].document, DOC);
        assert_eq!(parse_outcomes_v2(&payload(&[]), 0), Ok((vec![], vec![])));
    }

    #[test]
    fn every_malformed_version_2_payload_names_its_document() {
        let good = payload(&[(0, b"", &[]), (0, b"", &[(0, b"c", DOC)])]);
        // The second record's output count starts at 4 + 5 + 4 + 5.
        let second_count = 18;
        let cases: Vec<(Vec<u8>, Option<usize>, &str)> = vec![
            (
                good[..second_count].to_vec(),
                Some(1),
                "without this document's output count",
            ),
            (
                good[..second_count + 4].to_vec(),
                Some(1),
                "inside its output 0",
            ),
            (
                good[..second_count + 9].to_vec(),
                Some(1),
                "claims a collection name of 1 bytes but only 0 follow",
            ),
            (
                good[..second_count + 10].to_vec(),
                Some(1),
                "before the document length of its output 0",
            ),
            (
                good[..good.len() - 1].to_vec(),
                Some(1),
                "claims a document of 5 bytes but only 4 follow",
            ),
            (
                [&good[..], &[0]].concat(),
                None,
                "1 bytes follow the last of the 2 outcomes",
            ),
            (
                payload(&[(0, b"", &[(3, b"c", DOC)])]),
                Some(0),
                "unknown op 3",
            ),
            (
                payload(&[(0, b"", &[(0, b"\xff", DOC)])]),
                Some(0),
                "not UTF-8 (\\xff)",
            ),
            (
                payload(&[(0, b"", &[(0, b"", DOC)])]),
                Some(0),
                "names no collection",
            ),
            (
                payload(&[(3, b"no", &[(0, b"c", DOC)])]),
                Some(0),
                "its outcome is fail but it emitted 1 outputs",
            ),
            (
                payload(&[(2, b"x", &[])]),
                Some(0),
                "delete outcome carries 1 bytes",
            ),
            (payload(&[(7, b"", &[])]), Some(0), "unknown tag 7"),
        ];
        for (p, index, expected) in cases {
            let (i, m) = refused(
                &p,
                2.min(u32::from_le_bytes(p[..4].try_into().expect("4")) as usize),
            );
            assert_eq!(i, index, "{m}");
            assert!(m.contains(expected), "{m} (expected {expected})");
        }
        let (i, m) = refused(&good, 3);
        assert_eq!(i, None);
        assert!(m.contains("2 outcomes for a batch of 3"), "{m}");
        // A huge output count is refused when the bytes run out, without
        // allocating for it.
        let mut huge = payload(&[(0, b"", &[])]);
        let n = huge.len();
        huge[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(refused(&huge, 1).1.contains("inside its output 0"));
    }

    #[test]
    fn version_1_payloads_have_no_output_counts() {
        let v1 = [1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse_outcomes(&v1, 1), Ok(vec![Outcome::Keep]));
        assert!(refused(&v1, 1)
            .1
            .contains("without this document's output count"));
    }
}
