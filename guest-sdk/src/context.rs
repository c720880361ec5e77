//! What a contract-version-2 transform sees besides its document (the
//! documents the host looked up for it) and what it writes besides its
//! outcome (outputs to other collections).

use bson::{Bson, Document, RawDocument, RawDocumentBuf};

/// How an output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputOp {
    /// Insert; an `_id` already in the collection fails the batch.
    Insert,
    /// Replace the document with this `_id`, or insert it.
    Upsert,
    /// Delete the document with this `_id`.
    Delete,
}

impl OutputOp {
    /// The op's tag in the core-module ABI (`guest-sdk/ABI.md`).
    pub(crate) fn tag(self) -> u8 {
        match self {
            OutputOp::Insert => 0,
            OutputOp::Upsert => 1,
            OutputOp::Delete => 2,
        }
    }
}

/// One write to another collection, as the host receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// How it is written.
    pub op: OutputOp,
    /// `name` (the migration's database) or `database.name`; one of the
    /// manifest's `outputs`.
    pub collection: String,
    /// The document (for a delete, `{_id: …}`).
    pub document: RawDocumentBuf,
}

/// A document an output can carry: a decoded [`Document`] or raw BSON.
pub trait IntoOutputDocument {
    /// The document as raw BSON.
    fn into_output_document(self) -> RawDocumentBuf;
}

impl IntoOutputDocument for RawDocumentBuf {
    fn into_output_document(self) -> RawDocumentBuf {
        self
    }
}

impl IntoOutputDocument for &RawDocument {
    fn into_output_document(self) -> RawDocumentBuf {
        self.to_raw_document_buf()
    }
}

impl IntoOutputDocument for Document {
    fn into_output_document(self) -> RawDocumentBuf {
        (&self).into_output_document()
    }
}

impl IntoOutputDocument for &Document {
    fn into_output_document(self) -> RawDocumentBuf {
        // Only a document holding a value BSON cannot encode fails, which
        // `Document` cannot hold: trapping is right.
        RawDocumentBuf::from_document(self)
            .unwrap_or_else(|e| panic!("cannot encode an output document: {e}"))
    }
}

/// A version-2 transform's view of one input document's surroundings: the
/// documents the host looked up for it (the manifest's `[[lookup]]`s) and
/// the outputs it emits. Outputs are written in the batch's transaction, in
/// the order emitted; if the transform returns [`Outcome::Fail`](crate::Outcome::Fail)
/// they are dropped, since a document that fails writes nothing.
///
/// ```
/// use mongoshift_guest::{doc, Context, Document, Outcome};
///
/// fn copy_org_name(mut user: Document, cx: &mut Context) -> Outcome {
///     let Some(org) = cx.lookup("org").next() else {
///         return Outcome::fail("field `org_id`: no org has this _id");
///     };
///     let name = org.get_str("name").unwrap_or_default();
///     cx.insert("audit", doc! { "_id": user.get("_id").cloned(), "org_name": name });
///     user.insert("org_name", name);
///     Outcome::Replace(user)
/// }
/// ```
#[derive(Debug)]
pub struct Context<'a> {
    lookups: &'a RawDocument,
    outputs: Vec<Output>,
}

impl<'a> Context<'a> {
    /// A context over this lookups document, with no outputs yet.
    pub(crate) fn new(lookups: &'a RawDocument) -> Context<'a> {
        Context {
            lookups,
            outputs: Vec::new(),
        }
    }

    /// The lookups document: one array of matches per `[[lookup]]` (its `as`).
    pub fn lookups(&self) -> &'a RawDocument {
        self.lookups
    }

    /// The documents the lookup named `as_name` matched, in the order the
    /// host gave them; none if it matched nothing (or the manifest declares
    /// no such lookup).
    ///
    /// # Panics
    ///
    /// If the host sent a lookup that is not an array of documents (a bug on
    /// either side: the module traps).
    pub fn lookup(&self, as_name: &str) -> impl Iterator<Item = &'a RawDocument> + 'a {
        let matches = match self.lookups.get(as_name) {
            Ok(None) => None,
            Ok(Some(v)) => Some(
                v.as_array()
                    .unwrap_or_else(|| panic!("lookup `{as_name}` is not an array of documents")),
            ),
            Err(e) => panic!("malformed lookups document: {e}"),
        };
        let name = as_name.to_string();
        matches.into_iter().flatten().map(move |m| {
            m.ok()
                .and_then(|v| v.as_document())
                .unwrap_or_else(|| panic!("lookup `{name}` holds something other than documents"))
        })
    }

    /// Inserts `document` (with an `_id`) into `collection`.
    pub fn insert(&mut self, collection: impl Into<String>, document: impl IntoOutputDocument) {
        self.emit(OutputOp::Insert, collection, document);
    }

    /// Replaces the document of `collection` with `document`'s `_id`, or
    /// inserts it.
    pub fn upsert(&mut self, collection: impl Into<String>, document: impl IntoOutputDocument) {
        self.emit(OutputOp::Upsert, collection, document);
    }

    /// Deletes the document of `collection` whose `_id` is `id`.
    pub fn delete(&mut self, collection: impl Into<String>, id: impl Into<Bson>) {
        self.emit(
            OutputOp::Delete,
            collection,
            bson::doc! { "_id": id.into() },
        );
    }

    /// Emits one output.
    pub fn emit(
        &mut self,
        op: OutputOp,
        collection: impl Into<String>,
        document: impl IntoOutputDocument,
    ) {
        self.outputs.push(Output {
            op,
            collection: collection.into(),
            document: document.into_output_document(),
        });
    }

    /// The outputs emitted so far, in order.
    pub fn outputs(&self) -> &[Output] {
        &self.outputs
    }

    pub(crate) fn into_outputs(self) -> Vec<Output> {
        self.outputs
    }
}
