//! What a transform returns, checked before anything is written: one checker
//! for every source of outcomes (a Wasm component or core module, a Python
//! function) and every path that writes them (in place with or without
//! transactions, a rewrite's copy and catch-up, documents transformed again
//! after they changed, a dry run).

use bson::{Bson, RawDocument};

use crate::batch::{Outcome, Output};
use crate::error::WasmError;
use crate::manifest::Namespace;
use crate::text;
use crate::wasm::ReplacementChecker;

/// Checks and settles every outcome of a batch, in place:
///
/// - a replacement byte for byte equal to its input is a keep: nothing to
///   write, no pre-image to keep;
/// - any other replacement passes the [`ReplacementChecker`], or the batch
///   fails with the index of its document;
/// - a replacement that breaks the manifest's schema fails its document like
///   a `fail` outcome (abort or quarantine);
/// - every `fail` message is cut and escaped ([`text`]).
pub(crate) fn check_outcomes<'d>(
    doc: impl Fn(usize) -> &'d RawDocument,
    outcomes: &mut [Outcome],
    schema: Option<&jsonschema::Validator>,
) -> Result<(), (usize, WasmError)> {
    let mut checker = ReplacementChecker::default();
    for (i, o) in outcomes.iter_mut().enumerate() {
        match o {
            Outcome::Replace(bytes) if bytes.as_slice() == doc(i).as_bytes() => {
                *o = Outcome::Keep;
            }
            Outcome::Replace(bytes) => {
                if let Err(message) = checker.check(doc(i), bytes) {
                    return Err((i, WasmError::InvalidOutput { message }));
                }
                if let Some(problem) = schema.and_then(|v| schema_problem(v, bytes)) {
                    *o = Outcome::Fail(text::message(format!(
                        "the output does not match the manifest's schema: {problem}"
                    )));
                }
            }
            Outcome::Fail(message) => *message = text::message(&*message),
            Outcome::Keep | Outcome::Delete => {}
        }
    }
    Ok(())
}

fn schema_problem(v: &jsonschema::Validator, bytes: &[u8]) -> Option<String> {
    let doc = bson::Document::try_from(RawDocument::from_bytes(bytes).ok()?).ok()?;
    let json = Bson::Document(doc).into_relaxed_extjson();
    let problem = v.iter_errors(&json).next().map(|e| {
        let at = e.instance_path().to_string();
        format!("{} (at {})", e, if at.is_empty() { "/" } else { &at })
    });
    problem
}

/// Checks one output against the manifest's `outputs` (`declared`, named
/// in database `db`) and the contract, before anything is written; returns
/// where it goes and the declared name it matches, or what is wrong.
pub(crate) fn check_declared_output<'n>(
    o: &Output,
    declared: &'n [Namespace],
    db: &str,
) -> Result<(Namespace, &'n Namespace), String> {
    let ns = Namespace::parse(&o.collection).map_err(|e| format!("an output's collection: {e}"))?;
    let Some(named) = declared.iter().find(|d| d.same_as(&ns, db)) else {
        let list: Vec<String> = declared.iter().map(ToString::to_string).collect();
        return Err(format!(
            "an output ({}) to `{ns}`, which is not among the manifest's outputs ([{}]); \
             declare it in `outputs` if the migration is meant to write there",
            o.op.as_str(),
            list.join(", ")
        ));
    };
    RawDocument::from_bytes(&o.document)
        .map_err(|e| format!("its output to `{ns}` is not one BSON document: {e}"))?;
    crate::wasm::check_output(o).map_err(|e| format!("its output to `{ns}`: {e}"))?;
    Ok((ns, named))
}
