//! The scenario file as written: the serde model (also the source of `mynatap schema`), read by
//! the loader and written by `scenario::write`. Unknown fields are refused here; meaning is
//! checked in `validate`. `steps` holds a step's model, `lenient` the readers that take a value
//! as people type it.

mod lenient;
mod steps;

use mynatap_sim::profile::DeviceKind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use lenient::{text_or_number, version_text};
pub use steps::*;

/// A scenario file.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// The contract version the file was written for (`"1.1"`, `"1.2"`); default the latest.
    /// Steps are judged by that version's rules where versions differ.
    #[serde(default, deserialize_with = "version_text")]
    #[schemars(schema_with = "crate::scenario::schema::contract_version")]
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
    #[schemars(schema_with = "crate::scenario::schema::key")]
    pub ca_key: Option<String>,
    /// 1.3: two or three trusted authorities with one subject name and keys of their own,
    /// oldest first, each a key (`rsa2048`, `p256`, `p384`); the last issues every certificate a
    /// step asks for. Not with `ca_key`.
    #[serde(default)]
    pub ca_generations: Option<Vec<String>>,
    /// 1.3: `false`: every authority's certificate lacks cRLSign in its keyUsage, so no CRL of
    /// the world can be trusted (every tap that needs one fails closed). Default true.
    #[serde(default)]
    pub crl_sign: Option<bool>,
    /// mynatap extension: how many certificates of people outside the scenario are on the CRL
    /// before the first step (0 to 100000; default 0). Their serials come before the scenario's,
    /// so a revoked phone of the scenario is the CRL's last entries, not its first.
    #[serde(default)]
    pub revoked_elsewhere: Option<u32>,
    /// Default: one terminal `default` with phone support.
    #[serde(default)]
    #[schemars(skip_serializing_if = "no_default_shown")]
    pub terminals: Option<Vec<RawTerminal>>,
    #[serde(default)]
    #[schemars(skip_serializing_if = "no_default_shown")]
    pub people: Vec<RawPerson>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPerson {
    pub id: String,
    /// `YYYY-MM-DD`
    pub birth_date: String,
    #[serde(default, skip_serializing_if = "RawCard::is_unset")]
    #[schemars(skip_serializing_if = "no_default_shown")]
    pub card: RawCard,
    #[serde(default, skip_serializing_if = "RawInsurance::is_unset")]
    #[schemars(skip_serializing_if = "no_default_shown")]
    pub insurance: RawInsurance,
    #[serde(default)]
    #[schemars(skip_serializing_if = "no_default_shown")]
    pub phones: Vec<RawPhone>,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCard {
    /// Default: five years after `world.clock`.
    pub cert_expires: Option<String>,
    /// Default `"1234"` (4 digits).
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "crate::scenario::schema::digits")]
    pub pin: Option<String>,
    /// mynatap extension: the card-info input PIN (4 digits), checked when the card is added
    /// to an iPhone (SETUP-2). Default: not given; any 4-digit PIN typed on an iPhone is taken.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "crate::scenario::schema::digits")]
    pub card_info_pin: Option<String>,
    /// The card's key: `rsa2048` (default, as every card patients carry), `p256` or `p384`.
    #[serde(default)]
    #[schemars(schema_with = "crate::scenario::schema::key")]
    pub key: Option<String>,
    /// The 4-digit security code printed on the card (part of verification number B).
    /// Default `"0000"`.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "crate::scenario::schema::digits")]
    pub security_code: Option<String>,
    /// The card's own expiry date printed on it (`YYYY-MM-DD`). Default: `cert_expires`.
    pub expires: Option<String>,
    /// 1.2: a forged or cloned card: `photo_swapped`, `face_signature_invalid`,
    /// `unknown_surface_ca` or `clone`.
    #[serde(default)]
    #[schemars(schema_with = "crate::scenario::schema::forgery")]
    pub forgery: Option<String>,
    /// 1.3: the card's user-authentication certificate, signed by the trusted CA, breaks the
    /// JPKI profile so (`no_key_usage`, `ca_leaf`, ...; docs/scenario-format.md).
    #[serde(default)]
    #[schemars(schema_with = "crate::scenario::schema::certificate_fault")]
    pub certificate: Option<String>,
    /// 1.3: the generation of `world.ca_generations` (1 = the oldest) that issued the card's
    /// first certificate; default the newest.
    pub generation: Option<usize>,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawInsurance {
    /// Default true (SETUP-1 done).
    pub registered: Option<bool>,
    #[serde(default, deserialize_with = "text_or_number")]
    #[schemars(schema_with = "crate::scenario::schema::digits")]
    pub insurer: Option<String>,
    /// Default: two years after `world.clock`.
    pub valid_until: Option<String>,
    /// mynatap extension. Default: the birth date.
    pub valid_from: Option<String>,
    /// 1.2: the eligibility answer (QualificationValidity): `valid` (default), `invalid`,
    /// `superseded`, `none`, `multiple`.
    #[serde(default)]
    #[schemars(schema_with = "crate::scenario::schema::qualification")]
    pub status: Option<String>,
    /// 1.2: the co-payment ratio in per cent: 10, 20 or 30 (default 30).
    pub copay: Option<u8>,
    /// 1.2: the insurer's data reaches the system on this day (`YYYY-MM-DD`); before it the answer
    /// is `none`.
    pub arrives: Option<String>,
    /// 1.3: the insured person's name as the eligibility answer gives it (`Name`), any Unicode
    /// (characters outside JIS X 0208 included): a verified verdict carries it unchanged.
    pub name: Option<String>,
    /// 1.3: the name in katakana (`NameKana`).
    pub kana: Option<String>,
}

impl RawCard {
    /// Nothing given: the default card (left out when written).
    pub fn is_unset(&self) -> bool {
        let Self { cert_expires, pin, card_info_pin, key, security_code, expires, forgery, certificate, generation } = self;
        [cert_expires, pin, card_info_pin, key, security_code, expires, forgery, certificate].iter().all(|field| field.is_none()) && generation.is_none()
    }
}

impl RawInsurance {
    /// Nothing given: the default insurance (left out when written).
    pub fn is_unset(&self) -> bool {
        let Self { registered, insurer, valid_until, valid_from, status, copay, arrives, name, kana } = self;
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
    #[schemars(schema_with = "crate::scenario::schema::digits")]
    pub pin: Option<String>,
    /// The phone credential's key: `p256` (default, modeled), `rsa2048` or `p384`.
    #[serde(default)]
    #[schemars(schema_with = "crate::scenario::schema::key")]
    pub key: Option<String>,
    /// Issued by a CA the terminal does not trust.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(skip_serializing_if = "default_shown")]
    pub forged: bool,
    /// 1.3: the phone's user-authentication certificate breaks the JPKI profile so.
    #[serde(default)]
    #[schemars(schema_with = "crate::scenario::schema::certificate_fault")]
    pub certificate: Option<String>,
    /// 1.3: the generation of `world.ca_generations` (1 = the oldest) that issued the phone's
    /// first certificate; default the newest.
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
    pub timeout_ms: Option<u64>,
    /// How long the terminal waits for the CRL or the eligibility service. Default 2000.
    pub backend_timeout_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

/// For `mynatap schema`: a field whose default the schema does not spell out (a `null` or an empty
/// list or mapping says nothing a reader needs; the written file leaves such fields out).
pub(super) fn no_default_shown<T>(_: &T) -> bool {
    true
}

/// For `mynatap schema`: a field whose default the schema spells out, though a written file
/// leaves it out when it has that value (`forged: false`).
fn default_shown<T>(_: &T) -> bool {
    false
}
