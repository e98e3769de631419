//! Card profiles: the data that makes a virtual card a physical card, an Android phone or an
//! iPhone (AIDs, file ids, ATR, token label, PIN policies, how FLOW-3 unlocks the key).
//!
//! Profiles are YAML (`fixtures/profiles/*.yaml`), so a vendor with the real values of a device can
//! load their own. Parsing refuses unknown fields and names the field that is wrong.

use std::fmt;

use crate::pki::KeyAlgorithm;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// The kind of device a profile models. Its token label tells a terminal which it is (FLOW-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// The physical My Number card (Q14).
    Card,
    /// An Android phone holding the card's credential (PIN on the terminal).
    Android,
    /// An iPhone holding the card's credential (Face ID / Touch ID on the phone).
    Iphone,
}

impl DeviceKind {
    /// The scenario format's name (`card`, `android`, `iphone`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Card => "card",
            Self::Android => "android",
            Self::Iphone => "iphone",
        }
    }
    /// The token label a real device of this kind carries in file `00 06`.
    pub fn token_label(self) -> &'static str {
        match self {
            Self::Card => "JPKIAPICCTOKEN2",
            Self::Android => "JPKIAPGPSETOKEN",
            Self::Iphone => "JPKIAPIOSTOKEN",
        }
    }
    /// The kind of device a token label belongs to.
    pub fn from_token_label(label: &str) -> Option<Self> {
        [Self::Card, Self::Android, Self::Iphone].into_iter().find(|kind| kind.token_label() == label)
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DeviceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "card" => Ok(Self::Card),
            "android" => Ok(Self::Android),
            "iphone" => Ok(Self::Iphone),
            other => Err(format!("unknown device `{other}` (expected card, android or iphone)")),
        }
    }
}

/// How the user-authentication key is unlocked for the sign command (FLOW-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unlock {
    /// VERIFY with the PIN (the physical card, an Android phone).
    Pin,
    /// Face ID / Touch ID on the device opens a window; VERIFY never unlocks (an iPhone).
    UserPresence,
}

/// Bytes written in hex in YAML (`"D3 92 F0 00 ..."`, spaces allowed).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct HexBytes(pub Vec<u8>);

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(&self.0))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        crate::apdu::parse_hex(&text).map(HexBytes).map_err(|e| de::Error::custom(format!("expected hex bytes: {e}")))
    }
}

/// A 2-byte file id written as 4 hex digits (`"000A"`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct FileId(pub [u8; 2]);

impl fmt::Debug for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X}{:02X}", self.0[0], self.0[1])
    }
}

impl<'de> Deserialize<'de> for FileId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = crate::apdu::parse_hex(&text).map_err(|e| de::Error::custom(format!("expected a file id of 4 hex digits: {e}")))?;
        let id: [u8; 2] = bytes.try_into().map_err(|_| de::Error::custom(format!("expected a file id of 4 hex digits, got `{text}`")))?;
        Ok(FileId(id))
    }
}

/// A numeric PIN: its length and how many wrong tries block it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PinPolicy {
    /// How many digits.
    pub digits: u8,
    /// Wrong tries before it blocks.
    pub max_tries: u8,
}

/// The signature password: 6 to 16 upper-case letters and digits on the real card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Fewest characters.
    pub min_len: u8,
    /// Most characters.
    pub max_len: u8,
    /// Wrong tries before it blocks.
    pub max_tries: u8,
}

/// The JPKI application (public personal authentication).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JpkiApplication {
    /// The application identifier.
    pub aid: HexBytes,
    /// Token information (`00 06`: the token label).
    pub token_info: FileId,
    /// The user-authentication certificate.
    pub auth_cert: FileId,
    /// The user-authentication CA's certificate.
    pub auth_ca_cert: FileId,
    /// The user-authentication PIN.
    pub auth_pin: FileId,
    /// The user-authentication key.
    pub auth_key: FileId,
    /// The signature certificate.
    pub sign_cert: FileId,
    /// The signature CA's certificate.
    pub sign_ca_cert: FileId,
    /// The signature password.
    pub sign_password: FileId,
    /// The signature key.
    pub sign_key: FileId,
}

/// The card-info input support application (券面事項入力補助).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CardInfoApplication {
    /// The application identifier.
    pub aid: HexBytes,
    /// The card-info input support PIN.
    pub pin: FileId,
    /// The My Number.
    pub my_number: FileId,
    /// The basic four items (name, address, birth date, sex).
    pub basic_four: FileId,
    /// The PIN's length and tries.
    pub pin_policy: PinPolicy,
}

/// The card-surface confirmation application (券面事項確認): the physical card only.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CardSurfaceApplication {
    /// The application identifier.
    pub aid: HexBytes,
    /// Verification number B (14 digits: birth date, expiry year, security code).
    pub number_b: FileId,
    /// Verification number A (the 12-digit My Number).
    pub number_a: FileId,
    /// The birth-date key (opens the age record).
    pub birth_date: FileId,
    /// Card-surface entries, with the face image (behind number A or B).
    pub entries: FileId,
    /// The My Number image (behind number A).
    pub my_number_image: FileId,
    /// The birth-date key (era-year `YYMMDD`; opens the age record `birth_date` only).
    #[serde(default = "birth_date_key")]
    pub birth_date_key: FileId,
    /// The application's basic data (readable with nothing).
    #[serde(default = "basic_data")]
    pub basic_data: FileId,
    /// The application's card-verifiable certificate (readable with nothing).
    #[serde(default = "surface_certificate")]
    pub certificate: FileId,
    /// Wrong tries that block a verification number (modeled: not public).
    pub max_tries: u8,
}

fn birth_date_key() -> FileId {
    FileId([0x00, 0x11])
}
fn basic_data() -> FileId {
    FileId([0x00, 0x03])
}
fn surface_certificate() -> FileId {
    FileId([0x00, 0x04])
}

/// One device's interface.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The profile's name (`card`, `android`, `iphone`, or a vendor's).
    pub name: String,
    /// The kind of device.
    pub device: DeviceKind,
    /// True where the values are the simulator's choice, not a published specification.
    pub modeled: bool,
    /// The answer-to-reset.
    pub atr: HexBytes,
    /// PKCS#11 token label in file `00 06`, padded with spaces to 32 bytes on the card.
    pub token_label: String,
    /// The JPKI application.
    pub jpki: JpkiApplication,
    #[serde(default)]
    /// The card-info input support application, if the device has it.
    pub card_info: Option<CardInfoApplication>,
    #[serde(default)]
    /// The card-surface confirmation application (the physical card only).
    pub card_surface: Option<CardSurfaceApplication>,
    /// The user-authentication PIN's policy.
    pub auth_pin: PinPolicy,
    /// The signature password's policy.
    pub sign_password: PasswordPolicy,
    /// How the user-authentication key is opened (a PIN, or user presence on the phone).
    pub unlock: Unlock,
    /// Android: the user-authentication certificate is readable only after VERIFY.
    pub auth_cert_needs_pin: bool,
    /// What a VERIFY in the JPKI application gets on a `user_presence` device (`6982` or `6D00`).
    #[serde(default)]
    pub verify_refused_with: Option<HexBytes>,
    /// How long Face ID / Touch ID keeps the key open (`user_presence` devices), in milliseconds.
    #[serde(default)]
    pub user_verified_window_ms: Option<u64>,
    /// The iPhone's final proprietary command `80 FC 00 00` answers `90 00` (others: `67 00`).
    #[serde(default)]
    pub answers_final_command: bool,
    /// The default key of credentials on this device (a scenario may choose another).
    pub key: KeyAlgorithm,
}

/// A profile that failed to load: the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ProfileError {
    /// Where the profile came from (a file name).
    pub origin: String,
    /// What is wrong, naming the field.
    pub message: String,
}

/// The built-in Android profile (`fixtures/profiles/android.yaml`).
pub const ANDROID_YAML: &str = include_str!("../../fixtures/profiles/android.yaml");
/// The built-in iPhone profile (`fixtures/profiles/iphone.yaml`).
pub const IPHONE_YAML: &str = include_str!("../../fixtures/profiles/iphone.yaml");
/// The built-in physical card profile (`fixtures/profiles/card.yaml`).
pub const CARD_YAML: &str = include_str!("../../fixtures/profiles/card.yaml");

impl Profile {
    /// One of the profiles shipped in `fixtures/profiles/`.
    pub fn builtin(device: DeviceKind) -> Self {
        let (origin, text) = match device {
            DeviceKind::Android => ("fixtures/profiles/android.yaml", ANDROID_YAML),
            DeviceKind::Iphone => ("fixtures/profiles/iphone.yaml", IPHONE_YAML),
            DeviceKind::Card => ("fixtures/profiles/card.yaml", CARD_YAML),
        };
        match Self::from_yaml(origin, text) {
            Ok(profile) => profile,
            // The shipped files are checked by this crate's tests; reaching this is a build defect.
            Err(error) => panic!("built-in profile is invalid: {error}"),
        }
    }

    /// Parses and validates a profile. `origin` (a path) prefixes every message.
    pub fn from_yaml(origin: &str, text: &str) -> Result<Self, ProfileError> {
        let fail = |message: String| ProfileError { origin: origin.to_owned(), message };
        let text = crate::yaml_guard::strip_bom(text);
        crate::yaml_guard::check(text).map_err(|refused| fail(refused.to_string()))?;
        let profile: Profile = serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text)).map_err(|e| {
            let path = e.path().to_string();
            let inner = crate::yaml_guard::plain_words(&e.into_inner().to_string());
            // serde_yaml names the enclosing map only; the path names the field itself.
            if path == "." || inner.starts_with(&format!("{path}:")) { fail(inner) } else { fail(format!("{path}: {inner}")) }
        })?;
        profile.validate().map_err(fail)?;
        Ok(profile)
    }

    fn validate(&self) -> Result<(), String> {
        let aid_ok = |aid: &HexBytes| (5..=16).contains(&aid.0.len());
        if !aid_ok(&self.jpki.aid) {
            return Err(format!("jpki.aid: an AID has 5 to 16 bytes, got {}", self.jpki.aid.0.len()));
        }
        if self.atr.0.len() < 2 || self.atr.0.len() > 33 {
            return Err(format!("atr: an ATR has 2 to 33 bytes, got {}", self.atr.0.len()));
        }
        if self.token_label.is_empty() || self.token_label.len() > 32 || !self.token_label.is_ascii() {
            return Err("token_label: 1 to 32 ASCII characters".into());
        }
        check_pin_policy("auth_pin", &self.auth_pin)?;
        let password = &self.sign_password;
        if password.min_len == 0 || password.min_len > password.max_len || password.max_len > 64 {
            return Err("sign_password: need 1 <= min_len <= max_len <= 64".into());
        }
        if !(1..=15).contains(&password.max_tries) {
            return Err("sign_password.max_tries: 1 to 15 (the counter is the x of 63 Cx)".into());
        }
        if let Some(card_info) = &self.card_info {
            if !aid_ok(&card_info.aid) {
                return Err(format!("card_info.aid: an AID has 5 to 16 bytes, got {}", card_info.aid.0.len()));
            }
            check_pin_policy("card_info.pin_policy", &card_info.pin_policy)?;
        }
        if let Some(sw) = &self.verify_refused_with
            && sw.0.len() != 2
        {
            return Err("verify_refused_with: a status word of 4 hex digits".into());
        }
        if self.unlock == Unlock::UserPresence && self.auth_cert_needs_pin {
            return Err("auth_cert_needs_pin: a user_presence device has no PIN to read the certificate with".into());
        }
        Ok(())
    }

    /// The token file's content: the label, space-padded to 32 bytes.
    pub fn token_info(&self) -> Vec<u8> {
        let mut out = self.token_label.as_bytes().to_vec();
        out.resize(32, b' ');
        out
    }
}

fn check_pin_policy(field: &str, policy: &PinPolicy) -> Result<(), String> {
    if !(4..=16).contains(&policy.digits) {
        return Err(format!("{field}.digits: 4 to 16"));
    }
    if !(1..=15).contains(&policy.max_tries) {
        return Err(format!("{field}.max_tries: 1 to 15 (the counter is the x of 63 Cx)"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_load_and_carry_their_labels() {
        for (device, label) in [(DeviceKind::Card, "JPKIAPICCTOKEN2"), (DeviceKind::Android, "JPKIAPGPSETOKEN"), (DeviceKind::Iphone, "JPKIAPIOSTOKEN")] {
            let profile = Profile::builtin(device);
            assert_eq!(profile.device, device);
            assert_eq!(profile.token_label, label);
            assert_eq!(DeviceKind::from_token_label(label), Some(device));
        }
        assert!(Profile::builtin(DeviceKind::Iphone).card_info.is_some());
        assert!(Profile::builtin(DeviceKind::Android).card_info.is_none());
    }

    #[test]
    fn malformed_profiles_name_the_field() {
        let bad_fid = ANDROID_YAML.replace("auth_cert: \"000A\"", "auth_cert: \"0A\"");
        let error = Profile::from_yaml("x.yaml", &bad_fid).unwrap_err();
        assert!(error.to_string().contains("auth_cert"), "{error}");

        let unknown = format!("{ANDROID_YAML}\ncolour: blue\n");
        let error = Profile::from_yaml("x.yaml", &unknown).unwrap_err();
        assert!(error.to_string().contains("colour"), "{error}");

        let bad_tries = ANDROID_YAML.replace("auth_pin: { digits: 4, max_tries: 3 }", "auth_pin: { digits: 4, max_tries: 0 }");
        let error = Profile::from_yaml("x.yaml", &bad_tries).unwrap_err();
        assert!(error.to_string().contains("auth_pin.max_tries"), "{error}");

        let missing = ANDROID_YAML.replace("unlock: pin\n", "");
        let error = Profile::from_yaml("x.yaml", &missing).unwrap_err();
        assert!(error.to_string().contains("unlock"), "{error}");
    }
}
