//! What a transform logged while it worked on one batch: lines it wrote with
//! the contract's `log` import (or its language's helper), to stdout or
//! stderr, or as a panic or abort message.
//!
//! A guest decides how much it writes, so the buffer is bounded per batch:
//! at most [`MAX_LOG_LINES`] lines and [`MAX_LOG_BYTES`] bytes, each line cut
//! to [`MAX_LOG_LINE_BYTES`]. What does not fit is counted, not kept, and
//! reported as "… N more lines dropped". Each line remembers the document
//! the guest said it was working on when it was written (see
//! `guest-sdk/ABI.md`, "Logs").

use serde::Serialize;

use crate::text;

/// The most lines kept of one batch's logs.
pub const MAX_LOG_LINES: usize = 200;
/// The most bytes kept of one batch's logs (the lines' texts).
pub const MAX_LOG_BYTES: usize = 64 << 10;
/// The most bytes kept of one line (a longer one is cut, with a note).
pub const MAX_LOG_LINE_BYTES: usize = 4 << 10;

/// The byte that starts a line in the text form of the contract's `log`: a
/// level digit (`0`–`4`) and the message, or `@` and the index of the
/// document the guest starts on. Components write these to stderr.
const RECORD: u8 = 0x1e;

/// How important a line is (the `level` of the contract's `log`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// 0: details for the transform's author.
    Debug,
    /// 1: what a guest prints to stdout.
    Info,
    /// 2: worth noting.
    Notice,
    /// 3: what a guest prints to stderr (a Rust panic's message).
    Warn,
    /// 4: errors (an AssemblyScript abort's message).
    Error,
}

impl LogLevel {
    /// The level of the contract's number: below 0 is debug, above 4 error.
    pub fn from_number(n: i32) -> LogLevel {
        match n {
            i32::MIN..=0 => LogLevel::Debug,
            1 => LogLevel::Info,
            2 => LogLevel::Notice,
            3 => LogLevel::Warn,
            _ => LogLevel::Error,
        }
    }

    /// The level's name, as shown.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Notice => "notice",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// One line a guest logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The place in the batch of the document the guest was working on, when
    /// it said.
    pub index: Option<usize>,
    /// How important it is.
    pub level: LogLevel,
    /// The text: one line, control characters escaped, at most
    /// [`MAX_LOG_LINE_BYTES`].
    pub message: String,
}

/// Where a guest wrote a byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// stdout: lines at level info.
    Stdout,
    /// stderr: lines at level warn.
    Stderr,
}

/// One batch's logs as they are gathered: bounded whatever the guest writes.
#[derive(Debug, Default)]
pub struct LogBuffer {
    logs: BatchLogs,
    bytes: usize,
    current: Option<usize>,
    /// The unfinished last line of stdout and of stderr: at most one line's
    /// worth each (and a byte, so that a longer line is shown cut).
    pending: [Vec<u8>; 2],
}

impl LogBuffer {
    /// Notes that the guest now works on document `index` of the batch.
    pub fn set_document(&mut self, index: usize) {
        self.current = Some(index);
    }

    /// Adds one line at `level` (cut to a line's bound, or counted as dropped
    /// when the batch's bounds are reached).
    pub fn push(&mut self, level: LogLevel, bytes: &[u8]) {
        if self.logs.lines.len() >= MAX_LOG_LINES || self.bytes >= MAX_LOG_BYTES {
            self.logs.dropped += 1;
            return;
        }
        let message = text::bounded(bytes.trim_ascii_end(), MAX_LOG_LINE_BYTES);
        if self.bytes + message.len() > MAX_LOG_BYTES {
            self.logs.dropped += 1;
            return;
        }
        self.bytes += message.len();
        self.logs.lines.push(LogLine {
            index: self.current,
            level,
            message,
        });
    }

    /// Takes bytes written to stdout or stderr: each finished line is a log
    /// line (or, starting with the record byte, a `log` call in text form);
    /// an unfinished one waits for the rest.
    pub fn write(&mut self, stream: LogStream, mut bytes: &[u8]) {
        let slot = stream as usize;
        while !bytes.is_empty() {
            let (part, rest, ended) = match bytes.iter().position(|&b| b == b'\n') {
                Some(at) => (&bytes[..at], &bytes[at + 1..], true),
                None => (bytes, &[][..], false),
            };
            let pending = &mut self.pending[slot];
            let room = (MAX_LOG_LINE_BYTES + 1).saturating_sub(pending.len());
            pending.extend_from_slice(&part[..part.len().min(room)]);
            if ended {
                self.end_line(stream);
            }
            bytes = rest;
        }
    }

    fn end_line(&mut self, stream: LogStream) {
        let line = std::mem::take(&mut self.pending[stream as usize]);
        match line.split_first() {
            Some((&RECORD, [b'@', index @ ..])) => {
                if let Some(i) = std::str::from_utf8(index).ok().and_then(|s| s.parse().ok()) {
                    self.set_document(i);
                }
            }
            Some((&RECORD, [digit @ b'0'..=b'9', message @ ..])) => {
                self.push(LogLevel::from_number(i32::from(digit - b'0')), message);
            }
            _ => self.push(
                match stream {
                    LogStream::Stdout => LogLevel::Info,
                    LogStream::Stderr => LogLevel::Warn,
                },
                &line,
            ),
        }
    }

    /// Ends the batch: unfinished lines count as lines; returns what was
    /// gathered and starts afresh.
    pub fn take(&mut self) -> BatchLogs {
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            if !self.pending[stream as usize].is_empty() {
                self.end_line(stream);
            }
        }
        let logs = std::mem::take(&mut self.logs);
        *self = LogBuffer::default();
        logs
    }
}

/// What a guest logged during one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchLogs {
    /// The lines kept, in the order written.
    pub lines: Vec<LogLine>,
    /// How many lines did not fit the batch's bounds.
    pub dropped: u64,
}

impl BatchLogs {
    /// Whether nothing was logged.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.dropped == 0
    }

    /// The lines written while the guest worked on document `index`.
    pub fn of_document(&self, index: usize) -> impl Iterator<Item = &LogLine> {
        self.lines.iter().filter(move |l| l.index == Some(index))
    }

    /// Appends another call's logs (a batch retried document by document),
    /// within the same bounds.
    pub fn extend(&mut self, other: BatchLogs) {
        let room = MAX_LOG_LINES.saturating_sub(self.lines.len());
        let extra = other.lines.len().saturating_sub(room) as u64;
        self.lines.extend(other.lines.into_iter().take(room));
        self.dropped += other.dropped + extra;
    }

    /// The last `n` lines, as shown with a failure: `[level] message`
    /// joined with ` | `, then the count of dropped lines, if any. When none
    /// of them is at level error, the last line at level error comes first
    /// (a language runtime's own lines after a guest's exception would hide
    /// it).
    pub fn tail(&self, n: usize) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let from = self.lines.len().saturating_sub(n);
        let show = |l: &LogLine| format!("[{}] {}", l.level.name(), l.message);
        let mut shown: Vec<String> = Vec::new();
        if let Some(error) = self.lines[..from]
            .iter()
            .rev()
            .find(|l| l.level == LogLevel::Error)
            .filter(|_| {
                self.lines[from..]
                    .iter()
                    .all(|l| l.level != LogLevel::Error)
            })
        {
            shown.push(show(error));
            shown.push("…".into());
        }
        shown.extend(self.lines[from..].iter().map(show));
        if self.dropped > 0 {
            shown.push(dropped_note(self.dropped));
        }
        Some(shown.join(" | "))
    }
}

/// The note for lines that did not fit.
pub fn dropped_note(dropped: u64) -> String {
    format!("… {dropped} more lines dropped")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_split_into_lines_with_their_levels_and_documents() {
        let mut b = LogBuffer::default();
        b.write(LogStream::Stdout, b"hel");
        b.write(
            LogStream::Stderr,
            b"\x1e@2\npanicked at src/lib.rs:3:5:\nboom",
        );
        b.write(LogStream::Stdout, b"lo\n\x1e4bad date\n");
        let logs = b.take();
        let shown: Vec<(Option<usize>, LogLevel, &str)> = logs
            .lines
            .iter()
            .map(|l| (l.index, l.level, l.message.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                (Some(2), LogLevel::Warn, "panicked at src/lib.rs:3:5:"),
                (Some(2), LogLevel::Info, "hello"),
                (Some(2), LogLevel::Error, "bad date"),
                (Some(2), LogLevel::Warn, "boom"),
            ]
        );
        assert_eq!(b.take(), BatchLogs::default());
    }

    #[test]
    fn a_batch_keeps_at_most_its_bounds_and_counts_the_rest() {
        let mut b = LogBuffer::default();
        for _ in 0..10_000 {
            b.write(LogStream::Stdout, b"again and again\n");
        }
        b.write(LogStream::Stderr, &vec![b'x'; 1 << 20]);
        let logs = b.take();
        assert_eq!(logs.lines.len(), MAX_LOG_LINES);
        assert_eq!(logs.dropped, 10_001 - MAX_LOG_LINES as u64);
        assert!(logs
            .tail(1)
            .expect("lines")
            .ends_with("… 9801 more lines dropped"));

        let mut b = LogBuffer::default();
        b.push(LogLevel::Error, b"Error: boom");
        for _ in 0..6 {
            b.push(LogLevel::Warn, b"  at frame");
        }
        assert_eq!(
            b.take().tail(2).as_deref(),
            Some("[error] Error: boom | … | [warn]   at frame | [warn]   at frame"),
            "the last error stays in view"
        );

        b.push(LogLevel::Info, &vec![b'y'; 1 << 20]);
        let line = &b.take().lines[0].message;
        assert!(line.len() <= MAX_LOG_LINE_BYTES, "{}", line.len());
        assert!(line.ends_with("more bytes cut]"), "{line}");
    }
}
