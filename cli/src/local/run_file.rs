//! `mongoshift run ID --input FILE`: a migration's transform on the
//! documents of a file, each outcome printed as an Extended JSON line.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use mongoshift::local::{read_documents, LocalTransform, Opened};
use mongoshift::{Direction, MigrateError};

use super::chosen::{choose, Chosen};
use crate::python::PythonHook;
use crate::settings::Settings;
use crate::{exit, render};

/// What `run` was asked.
#[derive(Debug)]
pub(crate) struct RunFile {
    /// The migration.
    pub(crate) id: String,
    /// The documents.
    pub(crate) input: PathBuf,
    /// Where the lines go; stdout when `None`.
    pub(crate) output: Option<PathBuf>,
    /// Forward or backward.
    pub(crate) direction: Direction,
    /// Canonical Extended JSON (every BSON type spelled out) instead of
    /// relaxed.
    pub(crate) canonical: bool,
}

/// Runs the transform on each document of the file; the tally goes to
/// stderr. Exits [`exit::FAILED`] when the transform stopped on a document
/// (`up` would stop there too).
pub(crate) fn run_file(s: &Settings, args: &RunFile, python: &PythonHook) -> anyhow::Result<u8> {
    let (migrations, rt) = match choose(s, Some(&args.id), python)? {
        Chosen::Exited(code) => return Ok(code),
        Chosen::Run(m, rt) => (m, rt),
    };
    let m = &migrations[0];
    let (_, docs) = read_documents(&args.input).map_err(MigrateError::from)?;
    let mut transform = match LocalTransform::open(m, args.direction, Some(rt.as_ref()))? {
        Opened::Transform(t) => t,
        Opened::NoTransform(why) => {
            let word = match args.direction {
                Direction::Up => "forward",
                Direction::Down => "backward",
            };
            anyhow::bail!("migration {} has no {word} transform to run: {why}", m.id)
        }
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut tally = render::Tally::default();
    for (i, doc) in docs.iter().enumerate() {
        let decided = transform.run(doc, &[]);
        tally.add(&decided);
        writeln!(
            out,
            "{}",
            render::outcome_line(i + 1, doc, &decided, args.canonical)
        )
        .context("cannot write the outcomes")?;
    }
    out.flush().context("cannot write the outcomes")?;
    eprintln!("{tally}");
    Ok(if tally.errors > 0 {
        exit::FAILED
    } else {
        exit::OK
    })
}
