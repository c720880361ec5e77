//! Editing top-level fields without decoding the document.

use bson::{RawBson, RawDocument, RawDocumentBuf};

use crate::Outcome;

enum Op {
    Set(String, RawBson),
    Remove(String),
    Rename(String, String),
}

/// A set of top-level edits applied while copying the raw document: untouched
/// fields are copied as they are, in order.
///
/// - `set` replaces a field in place, or appends it when absent;
/// - `remove` drops a field;
/// - `rename` keeps the field's position and value under a new name.
///
/// [`Edit::finish`] returns [`Outcome::Keep`] when there is nothing to do.
pub struct Edit<'a> {
    src: &'a RawDocument,
    ops: Vec<Op>,
}

impl<'a> Edit<'a> {
    /// Starts editing `src`.
    pub fn new(src: &'a RawDocument) -> Self {
        Edit { src, ops: Vec::new() }
    }

    /// Sets `key` to `value`.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<RawBson>) -> Self {
        self.ops.push(Op::Set(key.into(), value.into()));
        self
    }

    /// Removes `key`.
    pub fn remove(mut self, key: impl Into<String>) -> Self {
        self.ops.push(Op::Remove(key.into()));
        self
    }

    /// Renames `from` to `to`, keeping its place.
    pub fn rename(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.ops.push(Op::Rename(from.into(), to.into()));
        self
    }

    /// Whether any edit was asked for.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Applies the edits and returns the new document.
    pub fn into_document(self) -> RawDocumentBuf {
        let mut out = crate::DocWriter::with_capacity(self.src.as_bytes().len() + 64);
        let mut used = vec![false; self.ops.len()];
        for el in self.src.iter() {
            let (key, value) = el.expect("the host sends valid BSON documents");
            let mut emitted = false;
            let mut removed = false;
            for (i, op) in self.ops.iter().enumerate() {
                match op {
                    Op::Remove(k) if k == key => removed = true,
                    Op::Rename(from, to) if from == key => {
                        out.append(to, value);
                        used[i] = true;
                        emitted = true;
                    }
                    Op::Set(k, v) if k == key && !emitted => {
                        out.append(k, v.as_raw_bson_ref());
                        used[i] = true;
                        emitted = true;
                    }
                    _ => {}
                }
            }
            if !emitted && !removed {
                out.append(key, value);
            }
        }
        for (i, op) in self.ops.iter().enumerate() {
            if let Op::Set(k, v) = op {
                if !used[i] {
                    out.append(k, v.as_raw_bson_ref());
                }
            }
        }
        out.finish()
    }

    /// Applies the edits: [`Outcome::Keep`] if there were none, otherwise
    /// [`Outcome::ReplaceRaw`].
    pub fn finish(self) -> Outcome {
        if self.ops.is_empty() {
            return Outcome::Keep;
        }
        Outcome::ReplaceRaw(self.into_document())
    }
}

#[cfg(test)]
mod tests {
    use bson::{doc, Document};

    use super::*;

    #[test]
    fn edits_keep_order() {
        let src = RawDocumentBuf::from_document(&doc! { "_id": 1, "a": 1, "b": "x", "c": [1, 2] }).expect("raw");
        let out = Edit::new(&src).set("b", "y").remove("a").rename("c", "d").set("e", true).into_document();
        let d: Document = out.to_document().expect("doc");
        assert_eq!(d, doc! { "_id": 1, "b": "y", "d": [1, 2], "e": true });
        assert!(matches!(Edit::new(&src).finish(), Outcome::Keep));
    }
}
