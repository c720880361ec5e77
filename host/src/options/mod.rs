//! The ground floor's switches: how a run writes, chosen in a manifest, on
//! the command line or from Python.
//!
//! - [`TxMode`]: one transaction per batch, per migration, or none.
//! - [`Strategy`]: write in place, or copy into a shadow and swap.
//! - [`UpdateForm`]: `$set`/`$unset` of what changed, or the whole document.
//! - [`OnError`]: stop at a failing document, or set it aside.
//! - [`ThrottleOptions`]: how fast a run may write on a live deployment.
//! - [`Cutover`]: when a rewrite swaps its copy in.
//!
//! Each derives `Deserialize` and is parsed by its name ([`Named`], or
//! `FromStr`), the same for manifests and flags.

mod cutover;
#[macro_use]
mod names;
mod on_error;
mod strategy;
mod throttle;
mod tx_mode;
mod update_form;

pub use cutover::Cutover;
pub use names::Named;
pub use on_error::OnError;
pub use strategy::Strategy;
pub use throttle::ThrottleOptions;
pub use tx_mode::TxMode;
pub use update_form::UpdateForm;
