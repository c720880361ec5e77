//! The migrations a local command works on, and how it reads the Python
//! ones.

use std::sync::Arc;

use mongoshift::python::PythonRuntime;
use mongoshift::{Migration, MigrationSource};

use crate::python::{LocalPython, PythonHook};
use crate::settings::Settings;

/// The migrations chosen and the runtime for the Python ones.
pub(super) enum Chosen {
    /// The Python package ran the command; this is its exit code.
    Exited(u8),
    /// Run them here.
    Run(Vec<Migration>, Arc<dyn PythonRuntime>),
}

/// Every migration of the directory, or the one `id` names (an error
/// naming it and the directory when there is none). Modules need not be
/// built: one that is missing is reported when its transform is loaded.
pub(super) fn choose(
    s: &Settings,
    id: Option<&str>,
    python: &PythonHook,
) -> anyhow::Result<Chosen> {
    let all = MigrationSource::new(&s.path).load_unbuilt()?;
    let chosen = match id {
        None => all,
        Some(id) => {
            let one: Vec<Migration> = all.iter().filter(|m| m.id == id).cloned().collect();
            if one.is_empty() {
                let known = match all.first() {
                    Some(m) => format!("ids are entry names such as {}", m.id),
                    None => "it holds no migration".to_string(),
                };
                anyhow::bail!("no migration {id} in {} ({known})", s.path.display());
            }
            one
        }
    };
    let database = s.connect.database.as_deref().unwrap_or("test");
    Ok(match python.local(&chosen, &s.connect.uri, database)? {
        LocalPython::Exited(code) => Chosen::Exited(code),
        LocalPython::Runtime(rt) => Chosen::Run(chosen, rt),
    })
}
