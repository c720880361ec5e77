//! Writing a BSON document element by element, copying raw values as bytes.

use std::cell::RefCell;

use bson::spec::ElementType;
use bson::{RawBsonRef, RawDocumentBuf};

use crate::fields::Field;

std::thread_local! {
    /// Buffers of replacements the batch loop has passed on, for the next
    /// [`DocWriter`]s.
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Hands a replacement's buffer back for reuse once its bytes have been
/// copied out (the batch loop does this).
pub(crate) fn recycle(mut buf: Vec<u8>) {
    SPARE.with_borrow_mut(|spare| {
        // A few are enough (one is in use at a time); a huge one is let go.
        if spare.len() < 4 && buf.capacity() <= 1 << 20 {
            buf.clear();
            spare.push(buf);
        }
    });
}

/// Builds a document from raw values without decoding or allocating per
/// field: the fastest way to produce a replacement that keeps most fields.
///
/// ```
/// use mongoshift_guest::{doc, DocWriter, RawDocumentBuf};
/// let src = RawDocumentBuf::from_document(&doc! { "_id": 1, "a": "x" }).unwrap();
/// let mut w = DocWriter::with_capacity(src.as_bytes().len() + 16);
/// for el in src.iter() {
///     let (k, v) = el.unwrap();
///     w.append(k, v);
/// }
/// w.append_str("b", "y");
/// assert_eq!(w.finish().to_document().unwrap(), doc! { "_id": 1, "a": "x", "b": "y" });
/// ```
#[derive(Debug, Clone)]
pub struct DocWriter {
    buf: Vec<u8>,
}

impl Default for DocWriter {
    fn default() -> Self {
        Self::with_capacity(256)
    }
}

impl DocWriter {
    /// An empty document with room for `n` bytes.
    ///
    /// Inside a batch, the memory of replacements already handed to the host
    /// is reused: a transform writing one document per call allocates only
    /// until its buffers have grown to the batch's largest document.
    pub fn with_capacity(n: usize) -> Self {
        let mut buf = SPARE.with_borrow_mut(Vec::pop).unwrap_or_default();
        buf.clear();
        buf.reserve(n.max(5));
        buf.extend_from_slice(&[0; 4]);
        DocWriter { buf }
    }

    /// Appends a field of another document as it is, in one copy.
    ///
    /// ```
    /// use mongoshift_guest::{doc, fields, DocWriter, RawDocumentBuf};
    /// let src = RawDocumentBuf::from_document(&doc! { "_id": 1, "a": [1, 2] }).unwrap();
    /// let mut w = DocWriter::default();
    /// for f in fields(&src) {
    ///     w.append_field(&f);
    /// }
    /// assert_eq!(w.finish(), src);
    /// ```
    #[inline]
    pub fn append_field(&mut self, field: &Field<'_>) {
        self.buf.extend_from_slice(field.as_bytes());
    }

    /// Appends another document's field under a new name, copying its value
    /// as bytes.
    ///
    /// # Panics
    ///
    /// If `key` contains a NUL byte.
    pub fn append_field_as(&mut self, key: &str, field: &Field<'_>) {
        self.key(field.element_type(), key);
        self.buf.extend_from_slice(field.value_bytes());
    }

    #[inline]
    fn key(&mut self, t: ElementType, key: &str) {
        // BSON keys end at the first NUL: such a key would corrupt the document.
        assert!(
            !crate::scan::has_nul(key.as_bytes()),
            "field name {key:?} contains a NUL byte, which BSON cannot store"
        );
        self.buf.push(t as u8);
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.push(0);
    }

    /// Appends `key: value`, copying the value's bytes.
    ///
    /// # Panics
    ///
    /// If `key` contains a NUL byte (every appending method does).
    pub fn append(&mut self, key: &str, value: RawBsonRef<'_>) {
        match value {
            RawBsonRef::Double(f) => {
                self.key(ElementType::Double, key);
                self.buf.extend_from_slice(&f.to_le_bytes());
            }
            RawBsonRef::String(s) => self.append_str(key, s),
            RawBsonRef::Document(d) => {
                self.key(ElementType::EmbeddedDocument, key);
                self.buf.extend_from_slice(d.as_bytes());
            }
            RawBsonRef::Array(a) => {
                self.key(ElementType::Array, key);
                self.buf.extend_from_slice(a.as_bytes());
            }
            RawBsonRef::ObjectId(o) => {
                self.key(ElementType::ObjectId, key);
                self.buf.extend_from_slice(&o.bytes());
            }
            RawBsonRef::Boolean(b) => {
                self.key(ElementType::Boolean, key);
                self.buf.push(u8::from(b));
            }
            RawBsonRef::DateTime(d) => self.append_datetime(key, d),
            RawBsonRef::Null => self.key(ElementType::Null, key),
            RawBsonRef::Int32(i) => {
                self.key(ElementType::Int32, key);
                self.buf.extend_from_slice(&i.to_le_bytes());
            }
            RawBsonRef::Int64(i) => {
                self.key(ElementType::Int64, key);
                self.buf.extend_from_slice(&i.to_le_bytes());
            }
            RawBsonRef::Timestamp(t) => {
                self.key(ElementType::Timestamp, key);
                self.buf.extend_from_slice(&t.increment.to_le_bytes());
                self.buf.extend_from_slice(&t.time.to_le_bytes());
            }
            RawBsonRef::Decimal128(d) => {
                self.key(ElementType::Decimal128, key);
                self.buf.extend_from_slice(&d.bytes());
            }
            RawBsonRef::MinKey => self.key(ElementType::MinKey, key),
            RawBsonRef::MaxKey => self.key(ElementType::MaxKey, key),
            RawBsonRef::Undefined => self.key(ElementType::Undefined, key),
            // Rare types: let the bson crate encode them.
            other => {
                let mut one = RawDocumentBuf::new();
                one.append(key, other.to_raw_bson());
                let bytes = one.as_bytes();
                self.buf.extend_from_slice(&bytes[4..bytes.len() - 1]);
            }
        }
    }

    /// Appends a string.
    #[inline]
    pub fn append_str(&mut self, key: &str, s: &str) {
        self.key(ElementType::String, key);
        self.buf
            .extend_from_slice(&((s.len() + 1) as i32).to_le_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// Appends a UTC datetime.
    #[inline]
    pub fn append_datetime(&mut self, key: &str, d: bson::DateTime) {
        self.key(ElementType::DateTime, key);
        self.buf
            .extend_from_slice(&d.timestamp_millis().to_le_bytes());
    }

    /// Closes the document.
    pub fn finish(mut self) -> RawDocumentBuf {
        self.buf.push(0);
        let len = self.buf.len() as i32;
        self.buf[..4].copy_from_slice(&len.to_le_bytes());
        RawDocumentBuf::from_bytes(self.buf).expect("a well-formed document")
    }
}
