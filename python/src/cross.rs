//! Cross-collection Python migrations: the `outputs` and `lookups` a
//! migration class declares, held to the manifest's rules (an error names
//! the file, the class and the field), and the outputs a worker returns.

use mongoshift::batch::{Output, OutputOp};
use mongoshift::manifest::{
    check_lookup, check_lookup_unique, check_output, Lookup, LookupDecl, Namespace,
};
use mongoshift::pipeline::TransformError;
use mongoshift::wasm::OutcomeError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::runtime::item;

/// The declarations of an iterative step (`step`: what
/// `mongoshift._runtime.load` made of it), over `collection`, read from
/// the file at `path`. A step without them (a Beanie file's) declares none.
pub(crate) fn declared(
    step: &Bound<'_, PyDict>,
    collection: &str,
    path: &str,
) -> PyResult<(Vec<Namespace>, Vec<Lookup>)> {
    let (Some(names), Some(declared)) = (step.get_item("outputs")?, step.get_item("lookups")?)
    else {
        return Ok((Vec::new(), Vec::new()));
    };
    let class: String = item(step, "class")?.extract()?;
    let py = step.py();
    let bad =
        |field: String, e: String| declaration_error(py, format!("{path}: {class}.{field}: {e}"));
    let mut outputs = Vec::new();
    let names: Vec<String> = names.extract()?;
    for name in &names {
        let ns = check_output(name, collection, &outputs).map_err(|e| bad("outputs".into(), e))?;
        outputs.push(ns);
    }
    let mut lookups: Vec<Lookup> = Vec::new();
    for (i, l) in declared.cast::<PyList>()?.iter().enumerate() {
        let l = l.cast::<PyDict>()?;
        let text = |key: &str| -> PyResult<String> { item(l, key)?.extract() };
        let (from, local, foreign, as_name) = (
            text("from")?,
            text("local_field")?,
            text("foreign_field")?,
            text("as")?,
        );
        let where_ = format!("lookups[{i}]");
        let lookup = check_lookup(LookupDecl {
            from: &from,
            local_field: &local,
            foreign_field: &foreign,
            as_name: &as_name,
            projection: document(l, "projection").map_err(|e| bad(where_.clone(), e))?,
            sort: document(l, "sort").map_err(|e| bad(where_.clone(), e))?,
            limit: Some(item(l, "limit")?.extract()?),
            required: item(l, "required")?.extract()?,
            on: mongoshift::manifest::LookupOn::Both,
        })
        .map_err(|e| bad(where_.clone(), e))?;
        check_lookup_unique(&lookup, &lookups).map_err(|e| bad(where_.clone(), e))?;
        lookups.push(lookup);
    }
    Ok((outputs, lookups))
}

/// A `mongoshift._runtime.DeclarationError`: shown as its message alone,
/// without a traceback (see [`crate::runtime::failure`]).
fn declaration_error(py: Python<'_>, message: String) -> PyErr {
    let made = py
        .import("mongoshift._runtime")
        .and_then(|m| m.getattr("DeclarationError"))
        .and_then(|cls| cls.call1((message.clone(),)));
    match made {
        Ok(e) => PyErr::from_value(e),
        Err(_) => PyValueError::new_err(message),
    }
}

/// `projection` or `sort` of a lookup: `None`, or a BSON document.
fn document(l: &Bound<'_, PyDict>, key: &str) -> Result<Option<bson::Document>, String> {
    let v = l.get_item(key).ok().flatten();
    match v {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => {
            let b = v
                .cast::<PyBytes>()
                .map_err(|_| format!("`{key}` must be a dict or None"))?;
            bson::Document::from_reader(b.as_bytes())
                .map(Some)
                .map_err(|e| format!("`{key}`: {e}"))
        }
    }
}

/// The outputs of each of `count` documents, as a worker returns them: one
/// list per document of `(op, collection, bson)` tuples (op 0 insert, 1
/// upsert, 2 delete, as in the core-module ABI).
pub(crate) fn outputs(
    out: &Bound<'_, PyAny>,
    count: usize,
) -> Result<Vec<Vec<Output>>, TransformError> {
    let lists = out
        .cast::<PyList>()
        .map_err(|e| -> TransformError { e.to_string().into() })?;
    if lists.len() != count {
        return Err(format!(
            "the Python worker returned outputs for {} documents of a batch of {count}",
            lists.len()
        )
        .into());
    }
    let mut all = Vec::with_capacity(count);
    for (i, list) in lists.iter().enumerate() {
        let bad = |message: String| -> TransformError {
            Box::new(OutcomeError {
                index: Some(i),
                message,
            })
        };
        let list = list
            .cast::<PyList>()
            .map_err(|_| bad("its outputs are not a list".into()))?;
        let mut mine = Vec::with_capacity(list.len());
        for o in list.iter() {
            let t = o
                .cast::<PyTuple>()
                .map_err(|_| bad("an output that is not an (op, collection, bson) tuple".into()))?;
            let (op, collection, document): (u8, String, Vec<u8>) = t
                .extract()
                .map_err(|_| bad("an output that is not an (op, collection, bson) tuple".into()))?;
            let op =
                OutputOp::from_tag(op).ok_or_else(|| bad(format!("an output with op {op}")))?;
            mine.push(Output {
                op,
                collection,
                document,
            });
        }
        all.push(mine);
    }
    Ok(all)
}
