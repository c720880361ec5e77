//! Resolving a migration's `[[lookup]]`s for one batch: one query per lookup
//! (`$in` over the batch's keys, never one per document), its matches
//! grouped back to each document as its lookups document (contract version
//! 2). Run by the reader for the transform, and again inside the batch's
//! transaction so a transform never commits on matches that changed since.

use std::collections::HashMap;

use bson::{doc, Bson, Document, RawArrayBuf, RawBsonRef, RawDocument, RawDocumentBuf};
use futures_util::TryStreamExt;
use mongodb::ClientSession;

use crate::batch::{raw_id_key, show_id_of};
use crate::error::{MigrateError, Result};
use crate::manifest::Lookup;
use crate::target::{Target, WHOLE_REPLY};

/// A migration's lookups and where they read.
#[derive(Debug, Clone)]
pub(crate) struct Lookups {
    pub(crate) migration: String,
    pub(crate) specs: Vec<Lookup>,
}

impl Lookups {
    /// The lookups of `specs` a run in `direction` resolves; `None` when
    /// none.
    pub(crate) fn for_run(
        migration: &str,
        specs: &[Lookup],
        direction: crate::progress::Direction,
    ) -> Option<Lookups> {
        let forward = direction == crate::progress::Direction::Up;
        let specs: Vec<Lookup> = specs
            .iter()
            .filter(|l| l.on.serves(forward))
            .cloned()
            .collect();
        (!specs.is_empty()).then(|| Lookups {
            migration: migration.to_string(),
            specs,
        })
    }

    /// The lookups document of each of `docs`, in order: one key per lookup
    /// (its `as`), each an array of matches. `session`: read in its
    /// transaction.
    pub(crate) async fn resolve(
        &self,
        target: &Target,
        docs: &[&RawDocument],
        mut session: Option<&mut ClientSession>,
    ) -> Result<Vec<RawDocumentBuf>> {
        let mut out: Vec<RawDocumentBuf> = vec![RawDocumentBuf::new(); docs.len()];
        for l in &self.specs {
            let per_doc = self.one(target, l, docs, session.as_deref_mut()).await?;
            for (d, matches) in out.iter_mut().zip(per_doc) {
                d.append(l.as_name.clone(), matches);
            }
        }
        Ok(out)
    }

    /// One lookup for every document: the matches of each.
    async fn one(
        &self,
        target: &Target,
        l: &Lookup,
        docs: &[&RawDocument],
        session: Option<&mut ClientSession>,
    ) -> Result<Vec<RawArrayBuf>> {
        let local: Vec<Vec<RawBsonRef<'_>>> =
            docs.iter().map(|d| values_at(d, &l.local_field)).collect();
        let mut keys: Vec<Bson> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for v in local.iter().flatten() {
            if seen.insert(match_key(*v)) {
                if let Ok(b) = Bson::try_from(v.to_raw_bson()) {
                    keys.push(b);
                }
            }
        }
        let found = if keys.is_empty() {
            Vec::new()
        } else {
            self.query(target, l, keys, session).await?
        };
        let mut by_key: HashMap<Vec<u8>, Vec<usize>> = HashMap::new();
        for (j, m) in found.iter().enumerate() {
            for v in values_at(m, &l.foreign_field) {
                by_key.entry(match_key(v)).or_default().push(j);
            }
        }
        let mut out = Vec::with_capacity(docs.len());
        for (d, vals) in docs.iter().zip(&local) {
            let mut hits: Vec<usize> = vals
                .iter()
                .flat_map(|v| by_key.get(&match_key(*v)).into_iter().flatten().copied())
                .collect();
            hits.sort_unstable();
            hits.dedup();
            self.check(l, d, hits.len())?;
            let mut arr = RawArrayBuf::new();
            for j in hits {
                arr.push(found[j].clone());
            }
            out.push(arr);
        }
        Ok(out)
    }

    /// The matches of all `keys`, in the lookup's order.
    async fn query(
        &self,
        target: &Target,
        l: &Lookup,
        keys: Vec<Bson>,
        session: Option<&mut ClientSession>,
    ) -> Result<Vec<RawDocumentBuf>> {
        let db = target.client().database(l.from.db_or(target.db().name()));
        let coll = db.collection::<RawDocumentBuf>(&l.from.collection);
        let mut find = coll
            .find(doc! { &l.foreign_field: { "$in": keys } })
            .sort(l.sort.clone().unwrap_or_else(|| doc! { "_id": 1 }))
            .batch_size(WHOLE_REPLY);
        if let Some(p) = &l.projection {
            find = find.projection(with_field(p, &l.foreign_field));
        }
        let err = |e| {
            MigrateError::db(
                format!(
                    "migration {}: cannot read lookup `{}` from {}",
                    self.migration, l.as_name, l.from
                ),
                e,
            )
        };
        match session {
            Some(s) => {
                let mut cursor = find.session(&mut *s).await.map_err(err)?;
                let mut all = Vec::new();
                while let Some(d) = cursor.next(&mut *s).await {
                    all.push(d.map_err(err)?);
                }
                Ok(all)
            }
            None => find.await.map_err(err)?.try_collect().await.map_err(err),
        }
    }

    /// A document with more matches than the lookup's limit, or none when
    /// it requires one, fails.
    fn check(&self, l: &Lookup, d: &RawDocument, n: usize) -> Result<()> {
        let problem = if n > l.limit {
            format!(
                "{n} matches in {}, more than its limit of {} (raise `limit` in the manifest if that many are expected)",
                l.from, l.limit
            )
        } else if n == 0 && l.required {
            format!(
                "no match in {} for its `{}` and the lookup is required",
                l.from, l.local_field
            )
        } else {
            return Ok(());
        };
        Err(MigrateError::Lookup {
            migration: self.migration.clone(),
            document: show_id_of(d),
            lookup: l.as_name.clone(),
            message: problem,
        })
    }
}

/// An inclusion projection gets the matched field too (the host groups by
/// it); an exclusion one is left as it is.
fn with_field(p: &Document, field: &str) -> Document {
    let inclusion = p.iter().any(|(k, v)| {
        k != "_id"
            && matches!(
                v,
                Bson::Int32(1) | Bson::Int64(1) | Bson::Boolean(true) | Bson::Double(_)
            )
    });
    let mut p = p.clone();
    if inclusion && !p.contains_key(field) {
        p.insert(field, 1);
    }
    p
}

/// The values at a dotted path, each element of an array at its end (as the
/// server's `$in` matches them); none when a step is missing.
pub(crate) fn values_at<'a>(d: &'a RawDocument, path: &str) -> Vec<RawBsonRef<'a>> {
    let mut cur: Vec<RawBsonRef<'a>> = vec![RawBsonRef::Document(d)];
    for part in path.split('.') {
        let mut next = Vec::new();
        for v in cur {
            match v {
                RawBsonRef::Document(doc) => {
                    if let Ok(Some(x)) = doc.get(part) {
                        next.push(x);
                    }
                }
                RawBsonRef::Array(a) => {
                    for e in a.into_iter().flatten() {
                        if let RawBsonRef::Document(doc) = e {
                            if let Ok(Some(x)) = doc.get(part) {
                                next.push(x);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        cur = next;
    }
    let mut out = Vec::new();
    for v in cur {
        match v {
            RawBsonRef::Array(a) => out.extend(a.into_iter().flatten()),
            other => out.push(other),
        }
    }
    out
}

/// Equal values as the server compares them: numbers by value across int32,
/// int64 and double; anything else by type and bytes.
fn match_key(v: RawBsonRef<'_>) -> Vec<u8> {
    let number = match v {
        RawBsonRef::Int32(n) => Some(f64::from(n)),
        RawBsonRef::Int64(n) => Some(n as f64),
        RawBsonRef::Double(n) => Some(n),
        _ => None,
    };
    match number {
        Some(n) => {
            let mut k = b"n".to_vec();
            k.extend_from_slice(&(if n == 0.0 { 0.0f64 } else { n }).to_le_bytes());
            k
        }
        None => raw_id_key(Some(v)),
    }
}

#[cfg(test)]
mod tests {
    use bson::rawdoc;

    use super::*;

    #[test]
    fn values_at_a_path_reach_into_arrays() {
        let d = rawdoc! { "a": { "b": [1, 2] }, "c": [{ "d": "x" }, { "d": "y" }, 3] };
        let show = |p: &str| -> Vec<String> {
            values_at(&d, p)
                .iter()
                .map(|v| format!("{:?}", v.to_raw_bson()))
                .collect()
        };
        assert_eq!(show("a.b").len(), 2);
        assert_eq!(show("c.d").len(), 2);
        assert!(show("missing").is_empty());
        assert!(show("a.b.z").is_empty());
    }

    #[test]
    fn numbers_match_across_types_and_others_by_type() {
        assert_eq!(
            match_key(RawBsonRef::Int32(7)),
            match_key(RawBsonRef::Int64(7))
        );
        assert_eq!(
            match_key(RawBsonRef::Int32(7)),
            match_key(RawBsonRef::Double(7.0))
        );
        assert_ne!(
            match_key(RawBsonRef::Int32(7)),
            match_key(RawBsonRef::String("7"))
        );
    }

    #[test]
    fn an_inclusion_projection_keeps_the_matched_field() {
        assert_eq!(
            with_field(&doc! { "name": 1 }, "org_id"),
            doc! { "name": 1, "org_id": 1 }
        );
        assert_eq!(with_field(&doc! { "big": 0 }, "org_id"), doc! { "big": 0 });
    }
}
