//! Text that comes from a transform or from the documents (a guest's `fail`
//! reason or trap, a Python exception, an `_id`), made safe to show and to
//! store.
//!
//! Such text reaches a terminal, JSON progress lines, the ledger and the
//! quarantine collection. Unchecked, a guest could print 50 MB twice, recolour
//! or clear the terminal, or start a line of its own that looks like
//! `up … done`; and a ledger entry over 16 MiB cannot be written at all. So
//! every such text is cut to a bound, with a note of how much was cut, and its
//! control characters are escaped: it always shows as one line. A message's
//! own lines (a traceback's) are joined with ` | `.

use std::fmt::Write;

/// The most bytes kept of a transform's message (a `fail` reason, a trap, a
/// Python exception), the note of what was cut included.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// The most bytes kept of an `_id` shown in a message.
pub(crate) const MAX_ID_BYTES: usize = 256;

/// Room kept for the note; a note is at most ` … [18446744073709551615 more bytes cut]`.
const NOTE_ROOM: usize = 48;

/// A transform's message as it is shown and stored (see the module docs);
/// bytes that are not UTF-8 show as `\xNN`.
pub(crate) fn message(text: impl AsRef<[u8]>) -> String {
    shown(text.as_ref().trim_ascii_end(), MAX_MESSAGE_BYTES, " | ")
}

/// `bytes` (UTF-8 where valid; other bytes become `\xNN`) with control
/// characters escaped, at most `max` bytes long. A text that already fits and
/// has nothing to escape comes back unchanged, so applying this twice changes
/// nothing.
pub(crate) fn bounded(bytes: &[u8], max: usize) -> String {
    shown(bytes, max, "\\n")
}

/// [`bounded`], with newlines shown as `newline`.
fn shown(bytes: &[u8], max: usize, newline: &str) -> String {
    if bytes.len() <= max {
        if let Ok(s) = std::str::from_utf8(bytes) {
            if !s.chars().any(needs_escape) {
                return s.to_string();
            }
        }
    }
    let budget = max.saturating_sub(NOTE_ROOM);
    let mut out = String::with_capacity(bytes.len().min(max));
    // Where the output stood when it last fitted the budget (leaving room for
    // the note), and how many input bytes that covered.
    let mut fit = (0, 0);
    let mut used = 0;
    let mut piece = String::new();
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        for c in valid.chars() {
            piece.clear();
            match c {
                '\n' => piece.push_str(newline),
                c => escape(c, &mut piece),
            }
            if !push(&mut out, &piece, max, budget, &mut fit, used) {
                return cut(out, fit, bytes.len());
            }
            used += c.len_utf8();
        }
        for b in chunk.invalid() {
            piece.clear();
            let _ = write!(piece, "\\x{b:02x}");
            if !push(&mut out, &piece, max, budget, &mut fit, used) {
                return cut(out, fit, bytes.len());
            }
            used += 1;
        }
    }
    out
}

/// Appends `piece` if the whole text may still fit in `max`; notes the last
/// point within `budget`. Returns false when it does not fit.
fn push(
    out: &mut String,
    piece: &str,
    max: usize,
    budget: usize,
    fit: &mut (usize, usize),
    used: usize,
) -> bool {
    if out.len() <= budget {
        *fit = (out.len(), used);
    }
    if out.len() + piece.len() > max {
        return false;
    }
    out.push_str(piece);
    true
}

fn cut(mut out: String, (len, used): (usize, usize), total: usize) -> String {
    out.truncate(len);
    let _ = write!(out, " … [{} more bytes cut]", total - used);
    out
}

/// Control characters (C0, DEL, C1) and the invisible characters that reorder
/// or hide text (bidirectional overrides and isolates).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape(c: char, out: &mut String) {
    match c {
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\0' => out.push_str("\\0"),
        c if (c as u32) < 0x80 && needs_escape(c) => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if needs_escape(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged_and_control_characters_are_escaped() {
        assert_eq!(message("cannot parse the date"), "cannot parse the date");
        assert_eq!(
            message("a\x1b[31mred\r\n\0up x: done\u{9b}\u{202e}\n"),
            "a\\x1b[31mred\\r | \\0up x: done\\u{9b}\\u{202e}"
        );
        assert_eq!(bounded(b"a\nb", 100), "a\\nb");
        assert_eq!(bounded(b"caf\xc3\xa9 \xff!", 100), "café \\xff!");
    }

    #[test]
    fn long_text_is_cut_with_a_note_and_cutting_again_changes_nothing() {
        let long = "é".repeat(30_000); // 60,000 bytes
        let m = message(&long);
        assert_eq!(message(long.as_bytes()), m);
        assert!(m.len() <= MAX_MESSAGE_BYTES, "{}", m.len());
        assert!(m.starts_with("éé"));
        let shown = m.split(" … [").next().expect("text").len();
        assert!(
            m.ends_with(&format!(" … [{} more bytes cut]", 60_000 - shown)),
            "{}",
            &m[m.len() - 60..]
        );
        assert_eq!(message(&m), m);
        // Escapes count towards the bound too.
        let m = message("\x1b".repeat(10_000));
        assert!(m.len() <= MAX_MESSAGE_BYTES);
        assert!(m.starts_with("\\x1b\\x1b"));
        assert_eq!(message(&m), m);
        // Exactly at the bound: kept whole.
        let exact = "x".repeat(MAX_MESSAGE_BYTES);
        assert_eq!(message(&exact), exact);
    }
}
