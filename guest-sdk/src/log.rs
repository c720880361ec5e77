//! Log lines for the transform's author: the host gathers them per batch
//! (bounded: 200 lines, 64 KiB) and shows them with the batch's failure, in
//! a quarantined document's entry, as progress events (`--progress json`)
//! and under `mongoshift up -v`. Each line carries its level and the `_id` of
//! the document being transformed when it was written.
//!
//! ```
//! use mongoshift_guest::{log, transform, Document, Outcome};
//!
//! #[transform]
//! fn tidy(doc: Document) -> Outcome {
//!     if !doc.contains_key("email") {
//!         log::warn("no email: kept as it is");
//!     }
//!     Outcome::Keep
//! }
//! ```
//!
//! A panic's message and place (`panicked at src/lib.rs:9:5: …`) are logged
//! too, at level error, and shown in the error of the batch it fails. What
//! the transform prints to stdout (`println!`) is logged at level info, and to
//! stderr at level warn. Run natively (tests), these functions write to
//! stderr.
//!
//! The lines go to stderr in the text form of the contract's `log` (see
//! `guest-sdk/ABI.md`, "Logs").

use std::cell::Cell;
use std::fmt::Display;
use std::io::Write;

/// How important a line is (the contract's `level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// 0: details.
    Debug = 0,
    /// 1: what happened.
    Info = 1,
    /// 2: worth noting.
    Notice = 2,
    /// 3: something is off.
    Warn = 3,
    /// 4: something failed.
    Error = 4,
}

/// Starts a line in the text form of the contract's `log`.
const RECORD: char = '\u{1e}';

std::thread_local! {
    /// The place in the batch of the document being transformed.
    static CURRENT: Cell<Option<usize>> = const { Cell::new(None) };
    /// The document the host was last told of in this batch.
    static MARKED: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Logs `message` at `level`; a message of several lines makes several lines.
pub fn log(level: Level, message: impl Display) {
    let mut text = String::new();
    if let Some(i) = CURRENT.get() {
        if MARKED.get() != Some(i) {
            // The host learns of a document only when it logs: one write per
            // document would cost more than most transforms.
            text.push_str(&format!("{RECORD}@{i}\n"));
            MARKED.set(Some(i));
        }
    }
    for line in message.to_string().lines() {
        text.push_str(&format!("{RECORD}{}{line}\n", level as u8));
    }
    // Nowhere to report a failed write: the line is lost, the batch is not.
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// Logs at level debug.
pub fn debug(message: impl Display) {
    log(Level::Debug, message);
}

/// Logs at level info.
pub fn info(message: impl Display) {
    log(Level::Info, message);
}

/// Logs at level notice.
pub fn notice(message: impl Display) {
    log(Level::Notice, message);
}

/// Logs at level warn.
pub fn warn(message: impl Display) {
    log(Level::Warn, message);
}

/// Logs at level error.
pub fn error(message: impl Display) {
    log(Level::Error, message);
}

/// A new batch starts: no document yet, and the host knows of none.
pub(crate) fn begin_batch() {
    CURRENT.set(None);
    MARKED.set(None);
    #[cfg(target_arch = "wasm32")]
    panic_hook();
}

/// The batch loop is at document `i`.
pub(crate) fn set_document(i: usize) {
    CURRENT.set(Some(i));
}

/// Logs a panic's message and place at level error (once, as one line)
/// instead of std's two lines on stderr.
#[cfg(target_arch = "wasm32")]
fn panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "Box<dyn Any>".into());
            match info.location() {
                Some(at) => error(format_args!(
                    "panicked at {}:{}:{}: {message}",
                    at.file(),
                    at.line(),
                    at.column()
                )),
                None => error(format_args!("panicked: {message}")),
            }
        }));
    });
}
