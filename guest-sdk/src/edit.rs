//! Editing top-level fields without decoding the document.

use bson::{RawBson, RawBsonRef, RawDocument, RawDocumentBuf};

use crate::fields::{fields, Field};
use crate::{DocWriter, Outcome};

/// A field of the result: one of the source's, copied as bytes, or a value
/// an edit set.
#[derive(Debug)]
enum Slot<'a> {
    Source(Field<'a>),
    Value(RawBsonRef<'a>),
}

impl<'a> Slot<'a> {
    /// The value, decoded (for comparing with a `set`).
    fn value(&self) -> Option<RawBsonRef<'a>> {
        match self {
            Slot::Source(f) => f.value().ok(),
            Slot::Value(v) => Some(*v),
        }
    }
}

#[derive(Debug)]
enum Op {
    Set(String, RawBson),
    Remove(String),
    Rename(String, String),
}

/// Top-level edits of a raw document, applied in the order given while the
/// document is copied: untouched fields are copied as bytes, in order, never
/// decoded.
///
/// - `set` replaces a field's value in place, or appends the field when absent;
/// - `remove` drops a field (nothing if absent);
/// - `rename` keeps the field's position and value under the new name (nothing
///   if absent); like MongoDB's `$rename`, an existing field of the new name is
///   dropped first.
///
/// [`Edit::finish`] answers [`Outcome::Keep`] when the edits change nothing
/// (a `set` to the value already there, a `remove` of an absent field), so a
/// migration run twice writes nothing the second time.
///
/// ```
/// use mongoshift_guest::{doc, Edit, Outcome, RawDocumentBuf};
///
/// let src = RawDocumentBuf::from_document(&doc! { "_id": 1, "zip": "0150", "tmp": 1 }).unwrap();
/// let out = Edit::new(&src).rename("zip", "postcode").remove("tmp").set("country", "NO").into_document();
/// assert_eq!(out.to_document().unwrap(), doc! { "_id": 1, "postcode": "0150", "country": "NO" });
/// assert_eq!(Edit::new(&out).set("country", "NO").remove("tmp").finish(), Outcome::Keep);
/// ```
#[derive(Debug)]
pub struct Edit<'a> {
    src: &'a RawDocument,
    ops: Vec<Op>,
}

impl<'a> Edit<'a> {
    /// Starts editing `src`.
    pub fn new(src: &'a RawDocument) -> Self {
        Edit {
            src,
            ops: Vec::new(),
        }
    }

    /// Sets `key` to `value`: in place if the field exists, else at the end.
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

    /// Whether no edit was asked for.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The fields of the result, in order, and whether they differ from the
    /// source. Fields borrow from the source or from the edits: nothing is
    /// decoded or copied yet (only the values a `set` compares against).
    fn plan(&self) -> (Vec<(&str, Slot<'_>)>, bool) {
        let mut fields: Vec<(&str, Slot<'_>)> = fields(self.src)
            .map(|f| (f.key(), Slot::Source(f)))
            .collect();
        let position =
            |fields: &[(&str, Slot<'_>)], key: &str| fields.iter().position(|(k, _)| *k == key);
        let mut changed = false;
        for op in &self.ops {
            match op {
                Op::Set(key, value) => {
                    let value = value.as_raw_bson_ref();
                    match position(&fields, key) {
                        Some(i) if fields[i].1.value() == Some(value) => {}
                        Some(i) => {
                            fields[i].1 = Slot::Value(value);
                            changed = true;
                        }
                        None => {
                            fields.push((key, Slot::Value(value)));
                            changed = true;
                        }
                    }
                }
                Op::Remove(key) => {
                    if let Some(i) = position(&fields, key) {
                        fields.remove(i);
                        changed = true;
                    }
                }
                Op::Rename(from, to) => {
                    if from == to {
                        continue;
                    }
                    if let Some(mut i) = position(&fields, from) {
                        if let Some(j) = position(&fields, to) {
                            fields.remove(j);
                            if j < i {
                                i -= 1;
                            }
                        }
                        fields[i].0 = to;
                        changed = true;
                    }
                }
            }
        }
        (fields, changed)
    }

    fn write(fields: &[(&str, Slot<'_>)], capacity: usize) -> RawDocumentBuf {
        let mut out = DocWriter::with_capacity(capacity);
        for (key, slot) in fields {
            match slot {
                Slot::Source(f) if f.key() == *key => out.append_field(f),
                Slot::Source(f) => out.append_field_as(key, f),
                Slot::Value(v) => out.append(key, *v),
            }
        }
        out.finish()
    }

    /// Applies the edits and returns the new document (a copy even if nothing
    /// changed).
    pub fn into_document(self) -> RawDocumentBuf {
        let (fields, _) = self.plan();
        Self::write(&fields, self.src.as_bytes().len() + 64)
    }

    /// Applies the edits: [`Outcome::Keep`] if they change nothing, otherwise
    /// [`Outcome::ReplaceRaw`] with the new document.
    pub fn finish(self) -> Outcome {
        let (fields, changed) = self.plan();
        if !changed {
            return Outcome::Keep;
        }
        Outcome::ReplaceRaw(Self::write(&fields, self.src.as_bytes().len() + 64))
    }
}

#[cfg(test)]
mod tests {
    use bson::{doc, Document};

    use super::*;

    fn raw(d: Document) -> RawDocumentBuf {
        RawDocumentBuf::from_document(&d).expect("raw")
    }

    fn edited(e: Edit<'_>) -> Document {
        e.into_document().to_document().expect("valid BSON")
    }

    #[test]
    fn edits_keep_order_and_copy_the_rest() {
        let src = raw(doc! { "_id": 1, "a": 1, "b": "x", "c": [1, 2], "d": { "e": null } });
        let out = edited(
            Edit::new(&src)
                .set("b", "y")
                .remove("a")
                .rename("c", "cc")
                .set("z", true),
        );
        assert_eq!(
            out,
            doc! { "_id": 1, "b": "y", "cc": [1, 2], "d": { "e": null }, "z": true }
        );
        assert_eq!(
            Edit::new(&src).into_document().as_bytes(),
            src.as_bytes(),
            "no edits: the same bytes"
        );
    }

    #[test]
    fn later_edits_see_earlier_ones() {
        let src = raw(doc! { "_id": 1, "a": 1, "b": 2 });
        assert_eq!(
            edited(Edit::new(&src).set("a", 5).set("a", 6)),
            doc! { "_id": 1, "a": 6, "b": 2 },
            "last set wins, once"
        );
        assert_eq!(
            edited(Edit::new(&src).set("n", 5).set("n", 6)),
            doc! { "_id": 1, "a": 1, "b": 2, "n": 6 }
        );
        assert_eq!(
            edited(Edit::new(&src).set("a", 5).remove("a")),
            doc! { "_id": 1, "b": 2 }
        );
        assert_eq!(
            edited(Edit::new(&src).remove("a").set("a", 5)),
            doc! { "_id": 1, "b": 2, "a": 5 },
            "re-added at the end"
        );
        assert_eq!(
            edited(Edit::new(&src).rename("a", "x").set("x", 9)),
            doc! { "_id": 1, "x": 9, "b": 2 }
        );
        assert_eq!(
            edited(Edit::new(&src).rename("a", "b")),
            doc! { "_id": 1, "b": 1 },
            "rename over a field drops it"
        );
        assert_eq!(
            edited(Edit::new(&src).rename("b", "a")),
            doc! { "_id": 1, "a": 2 }
        );
    }

    #[test]
    fn finish_keeps_what_does_not_change() {
        let src = raw(doc! { "_id": 1, "status": "active", "n": 2_i64 });
        assert_eq!(Edit::new(&src).finish(), Outcome::Keep);
        assert_eq!(
            Edit::new(&src)
                .set("status", "active")
                .remove("gone")
                .rename("gone", "x")
                .finish(),
            Outcome::Keep
        );
        assert_eq!(Edit::new(&src).rename("n", "n").finish(), Outcome::Keep);
        let Outcome::ReplaceRaw(out) = Edit::new(&src).set("n", 2_i32).finish() else {
            panic!("int32 2 is not int64 2")
        };
        assert_eq!(
            out.to_document().expect("doc"),
            doc! { "_id": 1, "status": "active", "n": 2 }
        );
    }
}
