//! A scenario step as written: the action (one of its fields) and what it must come to.

use mynatap_sim::terminal::Consent;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Os;
use super::lenient::{present, required_text, text_or_number};

/// One step: exactly one action key, plus an optional `expect`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub tap: Option<RawTap>,
    pub add_phone: Option<RawAddPhone>,
    pub remove_phone: Option<RawPhoneRef>,
    pub report_lost: Option<RawPhoneRef>,
    pub resume: Option<RawPhoneRef>,
    pub revoke_card: Option<RawPersonRef>,
    pub renew_card: Option<RawRenewCard>,
    pub register_insurance: Option<RawPersonRef>,
    pub advance_clock: Option<RawAdvanceClock>,
    /// Sends one command APDU to a device outside any tap (captures, profile checks).
    pub apdu: Option<RawApdu>,
    /// Powers a device off and on.
    pub reset: Option<RawDeviceRef>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(skip_serializing_if = "super::no_default_shown")]
    pub expect: Option<RawExpect>,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTap {
    pub phone: Option<String>,
    /// A person id: tap that person's physical card (Q14).
    pub card: Option<String>,
    pub terminal: Option<String>,
    /// Card taps: `pin` (default) or `face` (face recognition, FLOW-3 without a PIN).
    #[serde(default)]
    #[schemars(schema_with = "crate::scenario::schema::auth")]
    pub auth: Option<String>,
    /// With `auth: face`: whether the camera's face is the card's. Default true.
    pub face_match: Option<bool>,
    /// iPhone: Face ID / Touch ID done on the phone. Default true.
    pub user_verified: Option<bool>,
    /// The PIN typed on the terminal (card and Android). Default: the right one.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "crate::scenario::schema::digits")]
    pub pin: Option<String>,
    /// FLOW-2 choice. Default: the phone's os.
    pub os_selected: Option<Os>,
    pub consent: Option<RawConsent>,
    pub fault: Option<RawFault>,
    /// 1.3: the device arrives as a PC/SC event, `before_request` (while the reader is busy) or
    /// `after_request` (once it waits). Default: in the field already, no event (1.2).
    #[serde(default)]
    #[schemars(schema_with = "crate::scenario::schema::arrives")]
    pub arrives: Option<String>,
    /// 1.3: after its `remove_after` fault the same device is held again at once.
    pub held_again: Option<bool>,
    /// 1.3: the device stays in the field after its verdict.
    pub stays: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConsent {
    pub medication: Option<bool>,
    pub checkups: Option<bool>,
    pub surgery: Option<bool>,
    pub all: Option<bool>,
}

impl RawConsent {
    pub(crate) fn resolve(&self) -> Consent {
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
    #[schemars(schema_with = "crate::scenario::schema::fault_kind")]
    pub kind: String,
    /// remove_after: the phone leaves the field after this many command APDUs.
    pub apdus: Option<usize>,
    /// The N-th command of the tap (from 1).
    pub apdu: Option<usize>,
    /// Or the first command of a kind: `select`, `read`, `verify`, `sign`.
    #[serde(default)]
    #[schemars(schema_with = "crate::scenario::schema::command_kind")]
    pub command: Option<String>,
    /// wrong_status: the status word, 4 hex digits.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "crate::scenario::schema::digits")]
    pub sw: Option<String>,
    /// delay, backend_delay: milliseconds.
    pub ms: Option<u64>,
    /// backend_delay: the service that answers late, `crl` or `eligibility`.
    #[serde(default)]
    #[schemars(schema_with = "crate::scenario::schema::service")]
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
    #[schemars(schema_with = "crate::scenario::schema::digits")]
    pub pin: Option<String>,
    /// mynatap extension: the new credential's key (`p256`, `rsa2048`, `p384`). Default: the
    /// phone's earlier one, or the profile's.
    #[serde(default)]
    #[schemars(schema_with = "crate::scenario::schema::key")]
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
    pub cert_expires: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAdvanceClock {
    pub days: Option<i64>,
    pub hours: Option<i64>,
    pub minutes: Option<i64>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawApdu {
    /// A phone id, or a person id for that person's physical card.
    pub device: String,
    /// The command APDU in hex, e.g. `"00A4040C0AD392F00026010000000100"` (spaces allowed).
    #[serde(deserialize_with = "required_text")]
    #[schemars(schema_with = "crate::scenario::schema::required_digits")]
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
    #[schemars(schema_with = "crate::scenario::schema::outcome")]
    pub outcome: Option<String>,
    /// With `rejected`: one reason of the format.
    #[serde(default)]
    #[schemars(schema_with = "crate::scenario::schema::reason")]
    pub reason: Option<String>,
    /// With `verified`: the insurer recorded.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "crate::scenario::schema::digits")]
    pub insurer: Option<String>,
    /// With `verified`: the consent recorded (FLOW-5).
    pub consent: Option<RawConsent>,
    /// 1.2, with `verified`: the physical card was accepted in its grace after expiry.
    pub grace: Option<bool>,
    /// 1.2, with `verified`: the certificate expires within three months.
    pub expiring_soon: Option<bool>,
    /// 1.2, with `verified`: the co-payment ratio reported, in per cent.
    pub copay: Option<u8>,
    /// 1.3, with `verified`: the insured person's name reported, exactly as the eligibility
    /// answer gave it.
    pub name: Option<String>,
    /// 1.3, with `verified`: the name in katakana reported, exactly.
    pub kana: Option<String>,
    /// Other actions: the error code the action must fail with.
    #[serde(default)]
    #[schemars(schema_with = "crate::scenario::schema::error_code")]
    pub error: Option<String>,
    /// `apdu`: the status word, 4 hex digits (default `"9000"`).
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "crate::scenario::schema::digits")]
    pub sw: Option<String>,
    /// `apdu`: the response data exactly, in hex (`""`: no data).
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "crate::scenario::schema::digits")]
    pub data: Option<String>,
    /// `apdu`: the length of the response data in bytes.
    pub data_len: Option<usize>,
    /// `apdu`: the response data starts with these bytes (hex).
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "crate::scenario::schema::digits")]
    pub data_prefix: Option<String>,
}
