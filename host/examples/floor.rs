//! The floor of the benchmark suite: the reads and writes a `split_name`
//! migration needs, issued as plainly as the driver allows, with no engine
//! around them (no Wasm, no ledger, no transactions, no re-read, one batch at
//! a time). The new documents are computed natively in Rust (about a
//! microsecond each, against tens of microseconds for the write).
//!
//! ```text
//! cargo run --release -p mongoshift --example floor -- --uri URI --db DB --strategy in-place|rewrite [--form replace|set|conditional]
//! ```
//!
//! - in-place, form replace: one unordered `update` of 1,000 replacements by `_id` per batch.
//! - in-place, form set: the same with `$set`/`$unset` of the changed fields.
//! - in-place, form conditional: the same replacements by `_id`, each
//!   applying only while its document is as it was read (a pipeline comparing
//!   the whole document, failing the write otherwise): the writes of a run
//!   without transactions.
//! - rewrite: unordered inserts of 1,000 into a new collection, then two renames.
//! - cross (`move_addresses`'s writes): per batch of 1,000 users, one
//!   unordered `update` of the users without `addresses` and one unordered
//!   `insert` of their addresses into `addresses`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use bson::{doc, rawdoc, DateTime, RawArrayBuf, RawBsonRef, RawDocument, RawDocumentBuf};
use futures_util::TryStreamExt;
use mongodb::Client;

/// The statement of one document: the new document for a rewrite's insert,
/// else an update by `_id` in the form asked for.
fn statement(
    strategy: &str,
    form: &str,
    read: &RawDocument,
    id: i64,
    full: RawDocumentBuf,
    set: RawDocumentBuf,
) -> RawDocumentBuf {
    match (strategy, form) {
        ("rewrite", _) => full,
        (_, "set") => rawdoc! { "q": { "_id": id }, "u": set },
        (_, "conditional") => {
            let same = rawdoc! { "$eq": ["$$ROOT", { "$literal": read.to_raw_document_buf() }] };
            let refused = rawdoc! { "$concat": ["changed since read: ", { "$type": "$$ROOT" }] };
            let choice = rawdoc! { "$cond": [same, { "$literal": full }, refused] };
            let mut pipeline = RawArrayBuf::new();
            pipeline.push(rawdoc! { "$replaceWith": choice });
            rawdoc! { "q": { "_id": id }, "u": pipeline }
        }
        _ => rawdoc! { "q": { "_id": id }, "u": full },
    }
}

fn split(doc: &RawDocument) -> Option<(RawDocumentBuf, RawDocumentBuf)> {
    let name = doc.get_str("name").ok()?;
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    let signup = doc.get_str("signup").ok()?;
    let date = ymd(signup)?;
    let mut full = RawDocumentBuf::new();
    for el in doc.iter() {
        let (k, v) = el.ok()?;
        match k {
            "name" => {
                full.append("first_name", first);
                full.append("last_name", last);
            }
            "signup" => full.append("signup", date),
            _ => full.append(k, v.to_raw_bson()),
        }
    }
    full.append("status", "active");
    let set = rawdoc! {
        "$set": { "first_name": first, "last_name": last, "signup": date, "status": "active" },
        "$unset": { "name": "" },
    };
    Some((full, set))
}

fn ymd(s: &str) -> Option<DateTime> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(DateTime::from_millis(
        d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis(),
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut uri =
        std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
    let mut db = "demo".to_string();
    let mut strategy = "in-place".to_string();
    let mut form = "replace".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--uri" => uri = v()?,
            "--db" => db = v()?,
            "--strategy" => strategy = v()?,
            "--form" => form = v()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let client = Client::with_uri_str(&uri).await?;
    let db = client.database(&db);
    let users = db.collection::<RawDocumentBuf>("users");
    let started = Instant::now();
    let mut cursor = users
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .batch_size(1000)
        .await?;
    let mut n = 0u64;
    let mut batch = Vec::with_capacity(1000);
    let target = "users_floor_new";
    if strategy == "rewrite" {
        let _ = db.collection::<RawDocumentBuf>(target).drop().await;
        db.create_collection(target).await?;
    }
    loop {
        let next = cursor.try_next().await?;
        let done = next.is_none();
        if let Some(d) = next {
            batch.push(d);
        }
        if batch.len() == 1000 || (done && !batch.is_empty()) {
            n += batch.len() as u64;
            if strategy == "cross" {
                move_addresses(&db, batch.drain(..)).await?;
                continue;
            }
            let mut arr = RawArrayBuf::new();
            for d in batch.drain(..) {
                let Some((full, set)) = split(&d) else {
                    continue;
                };
                let id = match d.get("_id")? {
                    Some(RawBsonRef::Int64(i)) => i,
                    _ => return Err("users need int64 _id".into()),
                };
                arr.push(statement(&strategy, &form, &d, id, full, set));
            }
            let cmd = if strategy == "rewrite" {
                rawdoc! { "insert": target, "documents": arr, "ordered": false }
            } else {
                rawdoc! { "update": "users", "updates": arr, "ordered": false }
            };
            db.run_raw_command(cmd).await?;
        }
        if done {
            break;
        }
    }
    if strategy == "rewrite" {
        let name = db.name().to_string();
        let admin = client.database("admin");
        let _ = db
            .collection::<RawDocumentBuf>("users_floor_backup")
            .drop()
            .await;
        admin
            .run_command(doc! { "renameCollection": format!("{name}.users"), "to": format!("{name}.users_floor_backup") })
            .await?;
        admin
            .run_command(doc! { "renameCollection": format!("{name}.{target}"), "to": format!("{name}.users") })
            .await?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "floor {strategy}{}: {n} documents in {secs:.1} s ({:.0} docs/s)",
        if strategy == "rewrite" {
            String::new()
        } else {
            format!(" ({form})")
        },
        n as f64 / secs
    );
    Ok(())
}

/// `move_addresses` without an engine: each user replaced without its
/// `addresses`, each address inserted as `{_id: "<user>-<i>", user_id, i, ...}`.
async fn move_addresses(
    db: &mongodb::Database,
    users: impl Iterator<Item = RawDocumentBuf>,
) -> Result<(), Box<dyn std::error::Error>> {
    let (mut updates, mut inserts) = (RawArrayBuf::new(), RawArrayBuf::new());
    for d in users {
        let id = match d.get("_id")? {
            Some(RawBsonRef::Int64(i)) => i,
            _ => return Err("users need int64 _id".into()),
        };
        let mut user = RawDocumentBuf::new();
        for el in d.iter() {
            let (k, v) = el?;
            if k == "addresses" {
                let Some(list) = v.as_array() else { continue };
                for (i, a) in list.into_iter().enumerate() {
                    let Some(a) = a?.as_document() else { continue };
                    let mut moved =
                        rawdoc! { "_id": format!("{id}-{i}"), "user_id": id, "i": i as i32 };
                    for f in a.iter() {
                        let (fk, fv) = f?;
                        moved.append(fk, fv.to_raw_bson());
                    }
                    inserts.push(moved);
                }
            } else {
                user.append(k, v.to_raw_bson());
            }
        }
        updates.push(rawdoc! { "q": { "_id": id }, "u": user });
    }
    db.run_raw_command(rawdoc! { "update": "users", "updates": updates, "ordered": false })
        .await?;
    db.run_raw_command(rawdoc! { "insert": "addresses", "documents": inserts, "ordered": false })
        .await?;
    Ok(())
}
