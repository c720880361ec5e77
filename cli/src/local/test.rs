//! `mongoshift test [ID]`: the fixtures of every migration (or one), run
//! with no database.

use mongoshift::fixture::{run_fixtures, Summary};

use super::chosen::{choose, Chosen};
use crate::python::PythonHook;
use crate::settings::Settings;
use crate::{exit, render};

/// Runs the fixtures and prints a line per case (or JSON); exits
/// [`exit::TEST_FAILED`] when a case failed, [`exit::BAD_FIXTURE`] (through
/// the error) when a fixture file is invalid.
pub(crate) fn test(
    s: &Settings,
    id: Option<&str>,
    json: bool,
    python: &PythonHook,
) -> anyhow::Result<u8> {
    let (migrations, rt) = match choose(s, id, python)? {
        Chosen::Exited(code) => return Ok(code),
        Chosen::Run(m, rt) => (m, rt),
    };
    let results = run_fixtures(&migrations, Some(rt.as_ref()))?;
    if json {
        render::fixtures_json(&results)?;
    } else {
        render::fixtures(&results, &s.path);
    }
    Ok(if Summary::of(&results).failed > 0 {
        exit::TEST_FAILED
    } else {
        exit::OK
    })
}
