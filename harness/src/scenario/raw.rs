//! The scenario file as written: the serde model (also the source of `mynatap schema`). Unknown
//! fields are refused here; meaning is checked in `validate`.

use mynatap_sim::profile::DeviceKind;
use mynatap_sim::terminal::Consent;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// A scenario file.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// The contract version the file was written for (`"1.1"`, `"1.2"`); default the latest.
    /// Steps are judged by that version's rules where versions differ.
    #[serde(default, deserialize_with = "version_text")]
    #[schemars(schema_with = "super::schema::contract_version")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    /// Unique across the suite, without spaces or slashes; by convention the file is named
    /// `<id>.yaml` (not checked: an imported capture may be saved under any name).
    pub id: String,
    pub title: String,
    /// Requirement ids from docs/requirements.md.
    pub covers: Vec<String>,
    pub world: RawWorld,
    pub steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWorld {
    /// RFC 3339, e.g. `2026-04-01T09:00:00+09:00`.
    pub clock: String,
    /// The test CA's key: `rsa2048` (default, as the JPKI authorities), `p256` or `p384`.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::key")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_key: Option<String>,
    /// 1.3: two or three trusted authorities with one subject name and keys of their own,
    /// oldest first, each a key (`rsa2048`, `p256`, `p384`); the last issues every certificate a
    /// step asks for. Not with `ca_key`.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_generations: Option<Vec<String>>,
    /// 1.3: `false`: every authority's certificate lacks cRLSign in its keyUsage, so no CRL of
    /// the world can be trusted (every tap that needs one fails closed). Default true.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crl_sign: Option<bool>,
    /// mynatap extension: how many certificates of people outside the scenario are on the CRL
    /// before the first step (0 to 100000; default 0). Their serials come before the scenario's,
    /// so a revoked phone of the scenario is the CRL's last entries, not its first.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_elsewhere: Option<u32>,
    /// Default: one terminal `default` with phone support.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminals: Option<Vec<RawTerminal>>,
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub people: Vec<RawPerson>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPerson {
    pub id: String,
    /// `YYYY-MM-DD`
    pub birth_date: String,
    #[serde(default, skip_serializing_if = "RawCard::is_unset")]
    pub card: RawCard,
    #[serde(default, skip_serializing_if = "RawInsurance::is_unset")]
    pub insurance: RawInsurance,
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<RawPhone>,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCard {
    /// Default: five years after `world.clock`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_expires: Option<String>,
    /// Default `"1234"` (4 digits).
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "super::schema::digits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// mynatap extension: the card-info input PIN (4 digits), checked when the card is added
    /// to an iPhone (SETUP-2). Default: not given; any 4-digit PIN typed on an iPhone is taken.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "super::schema::digits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_info_pin: Option<String>,
    /// The card's key: `rsa2048` (default, as every card patients carry), `p256` or `p384`.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::key")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The 4-digit security code printed on the card (part of verification number B).
    /// Default `"0000"`.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "super::schema::digits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_code: Option<String>,
    /// The card's own expiry date printed on it (`YYYY-MM-DD`). Default: `cert_expires`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// 1.2: a forged or cloned card: `photo_swapped`, `face_signature_invalid`,
    /// `unknown_surface_ca` or `clone`.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::forgery")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forgery: Option<String>,
    /// 1.3: the card's user-authentication certificate, signed by the trusted CA, breaks the
    /// JPKI profile so (`no_key_usage`, `ca_leaf`, ...; docs/scenario-format.md).
    #[serde(default)]
    #[schemars(schema_with = "super::schema::certificate_fault")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// 1.3: the generation of `world.ca_generations` (1 = the oldest) that issued the card's
    /// first certificate; default the newest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<usize>,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawInsurance {
    /// Default true (SETUP-1 done).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered: Option<bool>,
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "super::schema::digits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insurer: Option<String>,
    /// Default: two years after `world.clock`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// mynatap extension. Default: the birth date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// 1.2: the eligibility answer (QualificationValidity): `valid` (default), `invalid`,
    /// `superseded`, `none`, `multiple`.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::qualification")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// 1.2: the co-payment ratio in per cent: 10, 20 or 30 (default 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copay: Option<u8>,
    /// 1.2: the insurer's data reaches the system on this day (`YYYY-MM-DD`); before it the answer
    /// is `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrives: Option<String>,
    /// 1.3: the insured person's name as the eligibility answer gives it (`Name`), any Unicode
    /// (characters outside JIS X 0208 included): a verified verdict carries it unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 1.3: the name in katakana (`NameKana`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kana: Option<String>,
}

impl RawCard {
    /// Nothing given: every field its default (left out when written).
    pub fn is_unset(&self) -> bool {
        let Self { cert_expires, pin, card_info_pin, key, security_code, expires, forgery, certificate, generation } = self;
        [cert_expires, pin, card_info_pin, key, security_code, expires, forgery, certificate].iter().all(|field| field.is_none()) && generation.is_none()
    }
}

impl RawInsurance {
    /// Nothing given: every field its default (left out when written).
    pub fn is_unset(&self) -> bool {
        let Self { registered, insurer, valid_until, valid_from, status, arrives, copay, name, kana } = self;
        registered.is_none() && copay.is_none() && [insurer, valid_until, valid_from, status, arrives, name, kana].iter().all(|field| field.is_none())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Android,
    Iphone,
}

impl Os {
    /// The OS of a phone of this kind (`None`: the physical card is no phone).
    pub fn of(kind: DeviceKind) -> Option<Self> {
        match kind {
            DeviceKind::Android => Some(Self::Android),
            DeviceKind::Iphone => Some(Self::Iphone),
            DeviceKind::Card => None,
        }
    }

    pub fn device(self) -> DeviceKind {
        match self {
            Self::Android => DeviceKind::Android,
            Self::Iphone => DeviceKind::Iphone,
        }
    }
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPhone {
    pub id: String,
    pub os: Os,
    /// Android: the PIN of the phone's own certificate (default `"1234"`).
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "super::schema::digits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// The phone credential's key: `p256` (default, modeled), `rsa2048` or `p384`.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::key")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Issued by a CA the terminal does not trust.
    #[serde(default)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub forged: bool,
    /// 1.3: the phone's user-authentication certificate breaks the JPKI profile so.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::certificate_fault")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// 1.3: the generation of `world.ca_generations` (1 = the oldest) that issued the phone's
    /// first certificate; default the newest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<usize>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTerminal {
    pub id: String,
    /// Whether the facility offers the phone path (Q15/Q16). Default true.
    #[serde(default = "yes")]
    pub smartphone: bool,
    /// How long the terminal waits for one response. Default 500.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// How long the terminal waits for the CRL or the eligibility service. Default 2000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_timeout_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

/// One step: exactly one action key, plus an optional `expect`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tap: Option<RawTap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add_phone: Option<RawAddPhone>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove_phone: Option<RawPhoneRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_lost: Option<RawPhoneRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<RawPhoneRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_card: Option<RawPersonRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renew_card: Option<RawRenewCard>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register_insurance: Option<RawPersonRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advance_clock: Option<RawAdvanceClock>,
    /// Sends one command APDU to a device outside any tap (captures, profile checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apdu: Option<RawApdu>,
    /// Powers a device off and on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset: Option<RawDeviceRef>,
    #[serde(default, deserialize_with = "present")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<RawExpect>,
}

/// `expect:` with nothing after it is a mistake, not "no expectation".
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
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

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTap {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// A person id: tap that person's physical card (Q14).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal: Option<String>,
    /// Card taps: `pin` (default) or `face` (face recognition, FLOW-3 without a PIN).
    #[serde(default)]
    #[schemars(schema_with = "super::schema::auth")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// With `auth: face`: whether the camera's face is the card's. Default true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_match: Option<bool>,
    /// iPhone: Face ID / Touch ID done on the phone. Default true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_verified: Option<bool>,
    /// The PIN typed on the terminal (card and Android). Default: the right one.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "super::schema::digits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// FLOW-2 choice. Default: the phone's os.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_selected: Option<Os>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<RawConsent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<RawFault>,
    /// 1.3: the device arrives as a PC/SC event, `before_request` (while the reader is busy) or
    /// `after_request` (once it waits). Default: in the field already, no event (1.2).
    #[serde(default)]
    #[schemars(schema_with = "super::schema::arrives")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrives: Option<String>,
    /// 1.3: after its `remove_after` fault the same device is held again at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_again: Option<bool>,
    /// 1.3: the device stays in the field after its verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stays: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConsent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medication: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkups: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surgery: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
}

impl RawConsent {
    pub(super) fn resolve(&self) -> Consent {
        let all = self.all == Some(true);
        Consent { medication: all || self.medication == Some(true), checkups: all || self.checkups == Some(true), surgery: all || self.surgery == Some(true) }
    }
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    /// Device faults `remove_after`, `corrupt_response`, `wrong_status`, `delay`; back-end
    /// faults `crl_unavailable`, `crl_stale`, `crl_bad_signature`, `eligibility_unavailable`,
    /// `eligibility_malformed`, `backend_delay`.
    #[schemars(schema_with = "super::schema::fault_kind")]
    pub kind: String,
    /// remove_after: the phone leaves the field after this many command APDUs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apdus: Option<usize>,
    /// The N-th command of the tap (from 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apdu: Option<usize>,
    /// Or the first command of a kind: `select`, `read`, `verify`, `sign`.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::command_kind")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// wrong_status: the status word, 4 hex digits.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "super::schema::digits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sw: Option<String>,
    /// delay, backend_delay: milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
    /// backend_delay: the service that answers late, `crl` or `eligibility`.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::service")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAddPhone {
    pub person: String,
    pub phone: String,
    pub os: Os,
    /// iPhone card-info PIN / Android phone PIN. Default: the phone's, or `"1234"`.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "super::schema::digits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// mynatap extension: the new credential's key (`p256`, `rsa2048`, `p384`). Default: the
    /// phone's earlier one, or the profile's.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::key")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPhoneRef {
    pub phone: String,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPersonRef {
    pub person: String,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRenewCard {
    pub person: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_expires: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAdvanceClock {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minutes: Option<i64>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawApdu {
    /// A phone id, or a person id for that person's physical card.
    pub device: String,
    /// The command APDU in hex, e.g. `"00A4040C0AD392F00026010000000100"` (spaces allowed).
    #[serde(deserialize_with = "required_text")]
    #[schemars(schema_with = "super::schema::required_digits")]
    pub send: String,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDeviceRef {
    /// A phone id, or a person id for that person's physical card.
    pub device: String,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// tap: `verified`, `rejected` or `not_offered`.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::outcome")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// With `rejected`: one reason of the format.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::reason")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// With `verified`: the insurer recorded.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "super::schema::digits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insurer: Option<String>,
    /// With `verified`: the consent recorded (FLOW-5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<RawConsent>,
    /// 1.2, with `verified`: the physical card was accepted in its grace after expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace: Option<bool>,
    /// 1.2, with `verified`: the certificate expires within three months.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiring_soon: Option<bool>,
    /// 1.2, with `verified`: the co-payment ratio reported, in per cent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copay: Option<u8>,
    /// 1.3, with `verified`: the insured person's name reported, exactly as the eligibility
    /// answer gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 1.3, with `verified`: the name in katakana reported, exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kana: Option<String>,
    /// Other actions: the error code the action must fail with.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::error_code")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `apdu`: the status word, 4 hex digits (default `"9000"`).
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "super::schema::digits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sw: Option<String>,
    /// `apdu`: the response data exactly, in hex (`""`: no data).
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "super::schema::digits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// `apdu`: the length of the response data in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_len: Option<usize>,
    /// `apdu`: the response data starts with these bytes (hex).
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "super::schema::digits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_prefix: Option<String>,
}

/// A contract version, quoted (`"1.1"`) or not (`1.1`, which YAML reads as a number).
fn version_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
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
fn required_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    text_or_number(deserializer)?.ok_or_else(|| serde::de::Error::custom("expected hex digits, got nothing"))
}
