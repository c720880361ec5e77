//! A core module's `describe` payload (guest-sdk/ABI.md): exactly one BSON
//! document whose fields have the documented types.
//!
//! Nothing is guessed: a version the module states two ways must agree, and
//! a field of the wrong type is refused rather than read as its default,
//! because a module that misdescribes itself (claims a backward direction, or
//! a contract this host does not implement) would be run on wrong terms.

use std::path::Path;

use bson::{Bson, Document, RawDocument};

use super::linked::ModuleInfo;
use crate::error::WasmError;

/// The newest contract version this host implements; it implements every
/// version from 1 up to it (`guest-sdk/wit/transform.wit`, then
/// `transform-v2.wit`).
pub const CONTRACT_VERSION: u32 = 2;

/// Whether this host implements contract version `v`.
pub(crate) fn supports(v: u32) -> bool {
    (1..=CONTRACT_VERSION).contains(&v)
}

/// The module's info from its `describe` payload; `exported` is what its
/// `mongoshift_contract_version` returned. A version this host does not
/// implement comes back in `contract_version` for the loader to refuse by
/// name; two versions it does implement must agree.
pub(crate) fn parse_info(
    path: &Path,
    exported: i32,
    payload: &[u8],
) -> Result<ModuleInfo, WasmError> {
    let invalid = |problem: String| WasmError::Invalid {
        path: path.to_path_buf(),
        message: format!("mongoshift_describe {problem}; see guest-sdk/ABI.md"),
    };
    // `from_bytes` holds the payload to the document's own length: nothing
    // may follow it.
    let doc = RawDocument::from_bytes(payload)
        .map_err(|e| e.to_string())
        .and_then(|raw| Document::try_from(raw).map_err(|e| e.to_string()))
        .map_err(|e| {
            invalid(format!(
                "did not return exactly one BSON document ({} bytes: {e})",
                payload.len()
            ))
        })?;
    let described = match doc.get("contract_version") {
        Some(Bson::Int32(v)) => i64::from(*v),
        Some(Bson::Int64(v)) => *v,
        Some(other) => {
            return Err(invalid(format!(
                "gives contract_version as {}, not an int32",
                type_name(other)
            )))
        }
        None => return Err(invalid("gives no contract_version".into())),
    };
    let known = |v: i64| u32::try_from(v).is_ok_and(supports);
    // Either statement of a version this host does not implement is the one
    // to name; they must agree in any case.
    let claimed = [i64::from(exported), described]
        .into_iter()
        .find(|v| !known(*v))
        .unwrap_or(described);
    if known(claimed) && claimed != i64::from(exported) {
        return Err(invalid(format!(
            "gives contract_version {described}, but mongoshift_contract_version returns {exported}; the two must agree"
        )));
    }
    let contract_version = u32::try_from(claimed).map_err(|_| {
        invalid(format!(
            "claims contract version {claimed}, which does not exist"
        ))
    })?;
    let name = match doc.get("name") {
        Some(Bson::String(s)) => s.clone(),
        Some(other) => {
            return Err(invalid(format!(
                "gives name as {}, not a string",
                type_name(other)
            )))
        }
        None => return Err(invalid("gives no name".into())),
    };
    let backward = match doc.get("backward") {
        Some(Bson::Boolean(b)) => *b,
        None => false,
        Some(other) => {
            return Err(invalid(format!(
                "gives backward as {}, not a bool",
                type_name(other)
            )))
        }
    };
    Ok(ModuleInfo {
        name,
        contract_version,
        backward,
        reads: strings(&doc, "reads").map_err(invalid)?,
        writes: strings(&doc, "writes").map_err(invalid)?,
    })
}

/// An optional array of strings.
fn strings(doc: &Document, key: &str) -> Result<Vec<String>, String> {
    match doc.get(key) {
        None => Ok(Vec::new()),
        Some(Bson::Array(a)) => a
            .iter()
            .map(|v| match v {
                Bson::String(s) => Ok(s.clone()),
                other => Err(format!(
                    "gives {key} with {}, not only strings",
                    type_name(other)
                )),
            })
            .collect(),
        Some(other) => Err(format!(
            "gives {key} as {}, not an array of strings",
            type_name(other)
        )),
    }
}

/// MongoDB's name of a value's type (as `$type` spells it).
pub(crate) fn type_name(v: &Bson) -> &'static str {
    super::validate::type_name(v.element_type() as u8)
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    fn info(exported: i32, d: Document) -> Result<ModuleInfo, String> {
        let mut bytes = Vec::new();
        d.to_writer(&mut bytes).expect("bson");
        parse_info(Path::new("g.wat"), exported, &bytes).map_err(|e| e.to_string())
    }

    #[test]
    fn a_complete_description_is_read() {
        let i = info(
            1,
            doc! { "name": "n", "contract_version": 1, "backward": true, "reads": ["a"], "writes": ["b"] },
        )
        .expect("valid");
        assert_eq!(
            (
                i.name.as_str(),
                i.contract_version,
                i.backward,
                i.reads,
                i.writes
            ),
            ("n", 1, true, vec!["a".to_string()], vec!["b".to_string()])
        );
    }

    #[test]
    fn versions_and_types_are_held_to_the_abi() {
        // Either way of stating an unknown version is the one reported.
        let three = info(1, doc! { "name": "n", "contract_version": 3 }).expect("parsed");
        assert_eq!(three.contract_version, 3);
        assert_eq!(
            info(3, doc! { "name": "n", "contract_version": 1 })
                .expect("parsed")
                .contract_version,
            3
        );
        // Two versions this host implements must agree.
        let two = info(2, doc! { "name": "n", "contract_version": 2 }).expect("parsed");
        assert_eq!(two.contract_version, 2);
        let e = info(1, doc! { "name": "n", "contract_version": 2 }).expect_err("disagree");
        assert!(
            e.contains("gives contract_version 2, but mongoshift_contract_version returns 1"),
            "{e}"
        );
        // 2^32 + 1 is not version 1.
        let e = info(
            1,
            doc! { "name": "n", "contract_version": 4_294_967_297_i64 },
        )
        .expect_err("not truncated to 1");
        assert!(e.contains("claims contract version 4294967297"), "{e}");
        for (d, expected) in [
            (doc! { "name": "n" }, "gives no contract_version"),
            (
                doc! { "name": "n", "contract_version": "1" },
                "contract_version as string",
            ),
            (doc! { "contract_version": 1 }, "gives no name"),
            (doc! { "name": 5, "contract_version": 1 }, "name as int"),
            (
                doc! { "name": "n", "contract_version": 1, "backward": 1 },
                "backward as int",
            ),
            (
                doc! { "name": "n", "contract_version": 1, "reads": "a" },
                "reads as string",
            ),
            (
                doc! { "name": "n", "contract_version": 1, "writes": [1] },
                "writes with int",
            ),
        ] {
            let e = info(1, d).expect_err(expected);
            assert!(e.contains(expected) && e.contains("g.wat"), "{e}");
        }
    }

    #[test]
    fn trailing_bytes_after_the_description_are_refused() {
        let mut bytes = Vec::new();
        doc! { "name": "n", "contract_version": 1 }
            .to_writer(&mut bytes)
            .expect("bson");
        bytes.push(0);
        let e = parse_info(Path::new("g.wat"), 1, &bytes).expect_err("trailing");
        assert!(e.to_string().contains("exactly one BSON document"), "{e}");
    }
}
