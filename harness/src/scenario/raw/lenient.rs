//! Readers that take a value as people type it: digits quoted or not, a contract version as
//! text or a number, an `expect:` left empty refused with a message that says what to write.

use serde::{Deserialize, Deserializer};

/// `expect:` with nothing after it is a mistake, not "no expectation".
pub(super) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    match Option::<T>::deserialize(deserializer)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom("`expect` has no value: give a map such as { outcome: verified }, or leave the key out")),
    }
}

/// PINs, insurer numbers and status words are text; a whole number written without quotes is
/// taken as its digits. Anything else says what is expected, quoting the value.
pub(super) fn text_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct Digits;
    impl serde::de::Visitor<'_> for Digits {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("digits, best quoted (e.g. \"1234\")")
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(Some(text.to_owned()))
        }
        fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<Self::Value, E> {
            Ok(Some(number.to_string()))
        }
        fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<Self::Value, E> {
            Err(E::custom(format!("expected digits, got the negative number {number}: quote the value, e.g. \"1234\"")))
        }
        fn visit_f64<E: serde::de::Error>(self, number: f64) -> Result<Self::Value, E> {
            Err(E::custom(format!("expected digits, got the number {number}: a PIN is 4 digits and an insurer number 8; quote the value, e.g. \"1234\"")))
        }
        fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<Self::Value, E> {
            Err(E::custom(format!("expected digits, got `{value}`: quote the value, e.g. \"1234\"")))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(Digits)
}

/// A contract version, quoted (`"1.1"`) or not (`1.1`, which YAML reads as a number).
pub(super) fn version_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct Version;
    impl serde::de::Visitor<'_> for Version {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a contract version such as \"1.2\"")
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(Some(text.to_owned()))
        }
        fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<Self::Value, E> {
            Ok(Some(number.to_string()))
        }
        fn visit_f64<E: serde::de::Error>(self, number: f64) -> Result<Self::Value, E> {
            Ok(Some(format!("{number:.1}")))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(Version)
}

/// Hex that YAML may read as a number (`send: 00B0000000` is text, `send: 9000` a number).
pub(super) fn required_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    text_or_number(deserializer)?.ok_or_else(|| serde::de::Error::custom("expected hex digits, got nothing"))
}
