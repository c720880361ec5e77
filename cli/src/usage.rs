//! [`UsageError`]: arguments that parse but do not go together, told apart
//! so they exit with clap's usage code.

/// Arguments that do not go together; exits with [`crate::exit::USAGE`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);
