//! Flag values parsed straight into the engine's option types, by the names
//! the engine gives them (their serde names, as manifests write them): the
//! command line has no option types of its own to keep in step. Only the
//! help shown for each value lives here.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use mongoshift::{OnError, Strategy, TxMode, UpdateForm};
use serde::de::{DeserializeOwned, IntoDeserializer};

/// Parses `name` into an option of the engine (a strategy, a transaction
/// mode, ...) by the name manifests give it; the error says what is allowed.
pub fn parse<T: DeserializeOwned>(name: &str) -> Result<T, String> {
    T::deserialize(name.into_deserializer()).map_err(|e: serde::de::value::Error| e.to_string())
}

/// A value a flag takes, and its help.
type Value = (&'static str, &'static str);

/// `--strategy`.
pub(crate) const STRATEGY: &[Value] = &[
    (
        "in-place",
        "Write each batch's results back into the collection",
    ),
    (
        "rewrite",
        "Copy into a shadow collection, follow changes, swap by rename",
    ),
    (
        "auto",
        "Rewrite for whole-collection migrations where allowed, else in place",
    ),
];

/// `--in-place-writes`.
pub(crate) const UPDATE_FORM: &[Value] = &[
    (
        "set",
        "$set/$unset of what changed (a replacement when field order changes)",
    ),
    ("replace", "The whole new document"),
];

/// `--transactions`.
pub(crate) const TX_MODE: &[Value] = &[
    (
        "batch",
        "One transaction per batch with its checkpoint (exactly-once resume)",
    ),
    (
        "migration",
        "One transaction for the whole migration (small collections)",
    ),
    ("none", "No transactions (at-least-once resume)"),
];

/// `--on-error`.
pub(crate) const ON_ERROR: &[Value] = &[
    ("abort", "Stop at the first failing document"),
    (
        "quarantine",
        "Set failing documents aside in mongoshift_quarantine and go on",
    ),
];

/// A parser for a flag taking one of `values`, each parsed by [`parse`].
fn one_of<T>(values: &'static [Value]) -> impl TypedValueParser<Value = T>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(
        values
            .iter()
            .map(|(name, help)| PossibleValue::new(name).help(help)),
    )
    .try_map(|name| parse::<T>(&name))
}

/// `--strategy`.
pub(crate) fn strategy() -> impl TypedValueParser<Value = Strategy> {
    one_of(STRATEGY)
}

/// `--in-place-writes`.
pub(crate) fn update_form() -> impl TypedValueParser<Value = UpdateForm> {
    one_of(UPDATE_FORM)
}

/// `--transactions`.
pub(crate) fn tx_mode() -> impl TypedValueParser<Value = TxMode> {
    one_of(TX_MODE)
}

/// `--on-error`.
pub(crate) fn on_error() -> impl TypedValueParser<Value = OnError> {
    one_of(ON_ERROR)
}

/// `--pause-at`: a percentage above 0 and below 100.
pub(crate) fn percent() -> impl TypedValueParser<Value = f64> {
    clap::builder::StringValueParser::new().try_map(|s: String| {
        match s.trim_end_matches('%').parse::<f64>() {
            Ok(p) if p > 0.0 && p < 100.0 => Ok(p),
            _ => Err(format!(
                "`{s}` is not a percentage between 0 and 100 (exclusive), such as 50"
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value a flag offers is one the engine knows, under that name.
    #[test]
    fn every_offered_value_parses_into_the_engine_type() {
        for (name, _) in STRATEGY {
            assert_eq!(parse::<Strategy>(name).map(|s| s.as_str()), Ok(*name));
        }
        for (name, _) in UPDATE_FORM {
            assert_eq!(parse::<UpdateForm>(name).map(|f| f.as_str()), Ok(*name));
        }
        for (name, _) in TX_MODE {
            assert_eq!(parse::<TxMode>(name).map(|t| t.as_str()), Ok(*name));
        }
        let on_error: Vec<OnError> = ON_ERROR
            .iter()
            .map(|(n, _)| parse(n).expect("known"))
            .collect();
        assert_eq!(on_error, [OnError::Abort, OnError::Quarantine]);
    }

    #[test]
    fn an_unknown_value_names_the_allowed_ones() {
        let err = parse::<Strategy>("sideways").expect_err("unknown");
        assert!(
            err.contains("sideways") && err.contains("in-place"),
            "{err}"
        );
    }
}
