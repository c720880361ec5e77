//! What both engine benchmarks share: flags, the sample batches, the native
//! closure and the heading's machine line.

use bson::RawDocumentBuf;
use mongoshift_guest::Encoded;

/// The value after `name` on the command line (`_` allowed as a digit
/// separator), or `default`.
pub(crate) fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// `n_docs` sample users in encoded batches of `batch`, each with its
/// document count; and the bytes of all of them.
pub(crate) fn sample_batches(n_docs: u64, batch: usize) -> (Vec<(Vec<u8>, usize)>, usize) {
    let docs: Vec<RawDocumentBuf> = (0..n_docs)
        .map(|i| RawDocumentBuf::from_document(&mongoshift::sample::user(i)).unwrap())
        .collect();
    let batches: Vec<(Vec<u8>, usize)> = docs
        .chunks(batch)
        .map(|c| {
            (
                mongoshift_guest::native::batch(c.iter().map(|d| d.as_ref())),
                c.len(),
            )
        })
        .collect();
    let bytes = batches.iter().map(|(b, _)| b.len()).sum();
    (batches, bytes)
}

/// `split_name` as a native closure over one batch: how many documents it
/// replaced.
pub(crate) fn native_replacements(batch: &[u8]) -> usize {
    mongoshift_guest::native::run(split_name::split_name, batch)
        .into_iter()
        .filter(|o| matches!(o, Encoded::Replace(_)))
        .count()
}

/// The machine for the figures' heading: cores and CPU model.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!(
        "{} cores, {cpu}",
        std::thread::available_parallelism().map_or(0, usize::from)
    )
}
