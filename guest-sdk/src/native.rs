//! Running a transform natively, through the very batch loop the Wasm exports
//! use: for benchmarks that compare the guest with the native closure, and for
//! unit tests of transforms.

use crate::__private::{adapt, run_batch, Adapt};
use crate::{Encoded, RawDocument};

/// Runs `f` over a batch of concatenated BSON documents and returns the encoded
/// outcomes, exactly as the Wasm module would.
pub fn run<M>(f: impl Adapt<M>, batch: &[u8]) -> Vec<Encoded> {
    let f = adapt(f);
    let mut out = Vec::new();
    run_batch(&f, batch, |e| out.push(e));
    out
}

/// Concatenates documents into a batch, as the host sends them.
pub fn batch<'a>(docs: impl IntoIterator<Item = &'a RawDocument>) -> Vec<u8> {
    let mut out = Vec::new();
    for d in docs {
        out.extend_from_slice(d.as_bytes());
    }
    out
}
