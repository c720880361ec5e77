//! Parsing one `[[forward]]`/`[[backward]]` step.

use bson::{Bson, Document};
use toml::Spanned;

use super::raw::{RawStep, OPS};
use super::step::{default_index_name, UpdateSpec, UpdateStep};
use super::values::{to_bson, type_name};

pub(super) fn step(raw: &RawStep, default_collection: Option<&str>) -> Result<UpdateStep, String> {
    let op = raw.op.get_ref().as_str();
    let collection = raw
        .collection
        .clone()
        .or_else(|| default_collection.map(str::to_string))
        .ok_or_else(|| {
            format!("op `{op}` needs a `collection` (on the step or at the top of the manifest)")
        })?;
    check_fields(raw, op)?;
    let need = |field: &str| format!("op `{op}` needs field `{field}`");
    let filter = table("filter", &raw.filter)?.unwrap_or_default();
    Ok(match op {
        "update_many" => {
            let update = raw.update.as_ref().ok_or_else(|| need("update"))?;
            let update = update_spec(update)?;
            UpdateStep::UpdateMany {
                collection,
                filter,
                update,
            }
        }
        "delete_many" => {
            if raw.filter.is_none() {
                return Err("op `delete_many` needs field `filter` (use `filter = {}` to delete every document)".into());
            }
            UpdateStep::DeleteMany { collection, filter }
        }
        "rename_field" => {
            let from = raw.from.clone().ok_or_else(|| need("from"))?;
            let to = raw.to.clone().ok_or_else(|| need("to"))?;
            if from == to || from.is_empty() || to.is_empty() {
                return Err("`from` and `to` must be different, non-empty field names".into());
            }
            UpdateStep::RenameField {
                collection,
                filter,
                from,
                to,
            }
        }
        "create_index" => {
            let keys = table("keys", &raw.keys)?.ok_or_else(|| need("keys"))?;
            if keys.is_empty() {
                return Err("field `keys` must name at least one field".into());
            }
            let name = raw
                .name
                .clone()
                .unwrap_or_else(|| default_index_name(&keys));
            let options = table("options", &raw.options)?.unwrap_or_default();
            UpdateStep::CreateIndex {
                collection,
                keys,
                name,
                options,
            }
        }
        "drop_index" => {
            let name = raw.name.clone().ok_or_else(|| need("name"))?;
            let keys = table("keys", &raw.keys)?;
            let options = table("options", &raw.options)?.unwrap_or_default();
            UpdateStep::DropIndex {
                collection,
                name,
                keys,
                options,
            }
        }
        _ => unreachable!("ops are checked above"),
    })
}

/// The fields `op` takes; a field it does not take is an error naming what
/// it does take.
fn check_fields(raw: &RawStep, op: &str) -> Result<(), String> {
    let allowed: &[&str] = match op {
        "update_many" => &["filter", "update"],
        "delete_many" => &["filter"],
        "rename_field" => &["filter", "from", "to"],
        "create_index" => &["keys", "name", "options"],
        "drop_index" => &["name", "keys", "options"],
        other => return Err(format!("unknown op `{other}`; ops: {OPS}")),
    };
    let present = [
        ("filter", raw.filter.is_some()),
        ("update", raw.update.is_some()),
        ("from", raw.from.is_some()),
        ("to", raw.to.is_some()),
        ("keys", raw.keys.is_some()),
        ("name", raw.name.is_some()),
        ("options", raw.options.is_some()),
    ];
    if let Some((field, _)) = present.iter().find(|(f, p)| *p && !allowed.contains(f)) {
        return Err(format!(
            "field `{field}` does not apply to op `{op}` (it takes: {})",
            allowed.join(", ")
        ));
    }
    Ok(())
}

/// A field that must be a table, if present.
fn table(field: &str, v: &Option<Spanned<toml::Value>>) -> Result<Option<Document>, String> {
    match v {
        None => Ok(None),
        Some(v) => match to_bson(v.get_ref()).map_err(|e| format!("field `{field}`: {e}"))? {
            Bson::Document(d) => Ok(Some(d)),
            other => Err(format!(
                "field `{field}` must be a table, not {}",
                type_name(&other)
            )),
        },
    }
}

/// The `update` of `update_many`: operators, or a pipeline of stages.
fn update_spec(update: &Spanned<toml::Value>) -> Result<UpdateSpec, String> {
    Ok(
        match to_bson(update.get_ref()).map_err(|e| format!("field `update`: {e}"))? {
            Bson::Document(d) => {
                if d.keys().next().is_none_or(|k| !k.starts_with('$')) {
                    return Err("field `update` must use update operators such as `$set` (a plain table would replace whole documents)".into());
                }
                UpdateSpec::Document(d)
            }
            Bson::Array(stages) => UpdateSpec::Pipeline(
                stages
                    .into_iter()
                    .map(|s| match s {
                        Bson::Document(d) => Ok(d),
                        other => Err(format!(
                            "field `update`: pipeline stages must be tables, not {}",
                            type_name(&other)
                        )),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => {
                return Err(format!(
                    "field `update` must be a table or an array of pipeline stages, not {}",
                    type_name(&other)
                ))
            }
        },
    )
}
