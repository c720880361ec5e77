//! The fixture every scaffolded transform ships with: it passes for the
//! template's transform (a `status` of "active" where there is none), so
//! `mongoshift test` passes from the first build, and shows the format to
//! extend (docs/testing.md).

use std::path::Path;

use mongoshift::SourceError;

/// The fixture file's name.
pub(crate) const FILE: &str = "status.json";

const CASES: &str = r#"[
  {
    "name": "a document without a status gets one",
    "input": { "_id": 1, "name": "Ada" },
    "expect": { "replace": { "_id": 1, "name": "Ada", "status": "active" } }
  },
  {
    "name": "a document with a status is kept",
    "input": { "_id": 2, "name": "Grace", "status": "retired" },
    "expect": "keep"
  }
]
"#;

/// Writes the fixture into `dir` (a migration's `tests` folder), creating it.
pub(crate) fn write(dir: &Path) -> Result<(), SourceError> {
    let io = |source| SourceError::Io {
        path: dir.join(FILE),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::write(dir.join(FILE), CASES).map_err(io)
}
