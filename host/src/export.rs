//! Real documents read out for fixtures and local runs (`mongoshift
//! sample`): a random sample of a collection, or of what a filter matches,
//! redacted on the way out when asked.

use bson::{doc, Document};
use futures_util::TryStreamExt;

use crate::error::{MigrateError, Result};
use crate::redact::Redactor;
use crate::target::Target;

/// What to read.
#[derive(Debug, Clone)]
pub struct SampleRequest {
    /// The collection.
    pub collection: String,
    /// How many documents (at most).
    pub count: u64,
    /// Only documents matching this (a random sample of them).
    pub filter: Document,
    /// Fields replaced by same-type stand-ins.
    pub redact: Vec<String>,
}

/// What was read.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The documents, in the order the server sampled them.
    pub documents: Vec<Document>,
    /// `--redact` paths that matched no field of any document read: a
    /// misspelt path would otherwise leave real data in the export.
    pub unmatched: Vec<String>,
}

/// A random sample (`$sample`) of the documents of `req.collection`
/// matching `req.filter`, redacted.
pub async fn sample(target: &Target, req: &SampleRequest) -> Result<Sample> {
    let err = |e| MigrateError::db(format!("cannot sample {}", req.collection), e);
    let pipeline = [
        doc! { "$match": req.filter.clone() },
        doc! { "$sample": { "size": i64::try_from(req.count).unwrap_or(i64::MAX) } },
    ];
    let mut documents: Vec<Document> = target
        .db()
        .collection::<Document>(&req.collection)
        .aggregate(pipeline)
        .await
        .map_err(err)?
        .try_collect()
        .await
        .map_err(err)?;
    let mut unmatched = Vec::new();
    for path in &req.redact {
        let one = Redactor::with_key(std::slice::from_ref(path), [0; 32]);
        if !documents.iter().any(|d| one.redact(&mut d.clone()) > 0) {
            unmatched.push(path.clone());
        }
    }
    let redactor = Redactor::new(&req.redact);
    for d in &mut documents {
        redactor.redact(d);
    }
    Ok(Sample {
        documents,
        unmatched,
    })
}
