//! Error types, one enum per subsystem.
//!
//! Messages are lowercase, carry context (the migration, the file, the host) and,
//! where there is one, say what to do next. They never contain a password:
//! [`redact_uri`] and [`redact_message`] mask every password this process has
//! seen. This module is on the ground floor: it imports nothing that runs
//! migrations, only the report a failed run carries and the outcome errors
//! of a batch ([`crate::batch`]).

mod codes;
mod fixture;
mod fleet;
mod inspect;
mod migrate;
mod name;
mod policy;
mod redact;
mod signing;
mod source;
mod transform;
mod verify;
mod wasm;

pub use codes::DbCause;
pub(crate) use codes::{
    is_duplicate_key, DOCUMENT_VALIDATION_FAILURE, DUPLICATE_KEY, UNAUTHORIZED,
};
pub use fixture::FixtureError;
pub use fleet::FleetError;
pub use migrate::{MigrateError, PartWay, Result};
pub use policy::PolicyError;
pub(crate) use redact::remember_secret_of;
pub use redact::{redact_message, redact_uri};
pub use signing::SigningError;
pub use source::SourceError;
pub use transform::{TransformError, WithLogs};
pub use verify::VerifyError;
pub use wasm::WasmError;
