//! Options by name: each option type is parsed from the name manifests and
//! flags give it through its serde derive, never by a hand-written match, so
//! a manifest, the command line and the Python package cannot disagree.

use serde::de::{DeserializeOwned, IntoDeserializer};

/// An option type whose values have names (`"in-place"`, `"batch"`, …).
pub trait Named: DeserializeOwned + Sized {
    /// Every name, in the order messages list them.
    const NAMES: &'static [&'static str];

    /// The value called `name`; the error says which names there are.
    fn from_name(name: &str) -> Result<Self, String> {
        let parsed: Result<Self, serde::de::value::Error> =
            Self::deserialize(name.into_deserializer());
        parsed.map_err(|_| format!("must be {}, not {name:?}", one_of(Self::NAMES)))
    }
}

/// `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// Implements [`Named`] and `FromStr` (by [`Named::from_name`]) for an
/// option type.
macro_rules! impl_names {
    ($t:ty, [$($name:literal),+ $(,)?]) => {
        impl $crate::options::Named for $t {
            const NAMES: &'static [&'static str] = &[$($name),+];
        }

        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                <$t as $crate::options::Named>::from_name(s)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{OnError, Strategy, TxMode, UpdateForm};

    fn round_trips<T: Named + serde::Serialize + std::fmt::Debug + PartialEq>() {
        for name in T::NAMES {
            let v = T::from_name(name).expect("a listed name parses");
            assert_eq!(
                bson::to_bson(&v).expect("serializes"),
                bson::Bson::String((*name).to_string())
            );
        }
    }

    #[test]
    fn every_listed_name_parses_and_serializes_back() {
        round_trips::<TxMode>();
        round_trips::<Strategy>();
        round_trips::<UpdateForm>();
        round_trips::<OnError>();
    }

    #[test]
    fn names_parse_by_serde() {
        assert_eq!("in-place".parse::<Strategy>(), Ok(Strategy::InPlace));
        assert_eq!("none".parse::<TxMode>(), Ok(TxMode::None));
        assert_eq!("set".parse::<UpdateForm>(), Ok(UpdateForm::Set));
        assert_eq!("quarantine".parse::<OnError>(), Ok(OnError::Quarantine));
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        assert_eq!(
            "in_place".parse::<Strategy>(),
            Err(r#"must be "in-place", "rewrite" or "auto", not "in_place""#.to_string())
        );
        assert_eq!(
            "tx".parse::<TxMode>(),
            Err(r#"must be "batch", "migration" or "none", not "tx""#.to_string())
        );
        assert_eq!(
            "Set".parse::<UpdateForm>(),
            Err(r#"must be "set" or "replace", not "Set""#.to_string())
        );
    }
}
