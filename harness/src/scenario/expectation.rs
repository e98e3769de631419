//! What a step must come to (`expect`): a tap's outcome and what a verified tap reports, a
//! registry error, a raw APDU's answer; and how an actual result is told apart from it.

use std::fmt;

use mynatap_sim::terminal::{Consent, OutcomeKind, Reason};

/// What a step must come to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// No `expect`: the action succeeds (a tap: it verifies).
    Succeed,
    /// A tap's outcome.
    Tap(TapExpect),
    /// A registry action fails with this error code.
    Error(String),
    /// A raw `apdu` step's answer (no `expect`: status word 9000).
    Apdu(ApduExpect),
}

/// What a tap must come to (`expect` on a `tap`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapExpect {
    /// What the tap must come to.
    pub outcome: OutcomeKind,
    /// The rejection's reason (`rejected` only).
    pub reason: Option<Reason>,
    /// The insurer number a verified tap must report.
    pub insurer: Option<String>,
    /// What the terminal must record of FLOW-5.
    pub consent: Option<Consent>,
    /// 1.2: accepted in the physical card's grace after expiry.
    pub grace: Option<bool>,
    /// 1.2: the certificate expires within three months.
    pub expiring_soon: Option<bool>,
    /// 1.2: the co-payment ratio, in per cent.
    pub copay: Option<u8>,
    /// 1.3: the insured person's name as the eligibility answer gave it, code point for code
    /// point.
    pub name: Option<String>,
    /// 1.3: the name in katakana, likewise.
    pub kana: Option<String>,
}

/// How `actual` differs from `expected`, a name: the code points of `expected` it lost (a name
/// passed through Shift_JIS loses what JIS X 0208 lacks), or where it differs otherwise.
fn name_mismatch(field: &str, expected: Option<&str>, actual: Option<&str>) -> Option<String> {
    let expected = expected?;
    let Some(actual) = actual else { return Some(format!("no {field}, expected `{expected}`")) };
    if expected == actual {
        return None;
    }
    let lost: Vec<String> = expected.chars().filter(|c| !actual.contains(*c)).map(|c| format!("U+{:04X} {c}", u32::from(c))).collect();
    let what = if lost.is_empty() { String::new() } else { format!(" (lost {})", lost.join(", ")) };
    Some(format!("{field} `{actual}`, expected `{expected}`{what}"))
}

impl TapExpect {
    /// Why a verified tap's details differ from these, or `None` when they match (only what
    /// the expectation names is compared).
    pub fn verified_mismatch(&self, verified: &mynatap_sim::terminal::Verified) -> Option<String> {
        fn differs<T: PartialEq + std::fmt::Display>(name: &str, expected: Option<T>, actual: T) -> Option<String> {
            expected.filter(|expected| *expected != actual).map(|expected| format!("{name} {actual}, expected {expected}"))
        }
        let wrong: Vec<String> = [
            differs("insurer", self.insurer.as_deref(), verified.insurer.as_str()),
            differs("consent", self.consent, verified.consent),
            differs("grace", self.grace, verified.grace),
            differs("expiring_soon", self.expiring_soon, verified.expiring_soon),
            differs("copay", self.copay, verified.copay()),
            name_mismatch("name", self.name.as_deref(), verified.record.name.as_deref()),
            name_mismatch("kana", self.kana.as_deref(), verified.record.kana.as_deref()),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!wrong.is_empty()).then(|| wrong.join("; "))
    }
}

impl fmt::Display for TapExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.outcome.as_str())?;
        if let Some(reason) = self.reason {
            write!(f, ": {reason}")?;
        }
        if let Some(insurer) = &self.insurer {
            write!(f, ", insurer {insurer}")?;
        }
        if let Some(consent) = &self.consent {
            write!(f, ", consent {consent}")?;
        }
        if let Some(grace) = self.grace {
            write!(f, ", grace {grace}")?;
        }
        if let Some(soon) = self.expiring_soon {
            write!(f, ", expiring_soon {soon}")?;
        }
        if let Some(copay) = self.copay {
            write!(f, ", copay {copay}")?;
        }
        if let Some(name) = &self.name {
            write!(f, ", name {name}")?;
        }
        if let Some(kana) = &self.kana {
            write!(f, ", kana {kana}")?;
        }
        Ok(())
    }
}

/// What a raw APDU step's answer must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApduExpect {
    /// The status word.
    pub sw: u16,
    /// The data exactly.
    pub data: Option<Vec<u8>>,
    /// The data's length.
    pub data_len: Option<usize>,
    /// The data's first bytes.
    pub data_prefix: Option<Vec<u8>>,
}

impl ApduExpect {
    /// Why `response` (data and status word) is not what is expected, or `None` when it is.
    pub fn mismatch(&self, response: &[u8]) -> Option<String> {
        let Some((data, sw)) = response.split_last_chunk::<2>() else {
            return Some(format!("a response of {} byte(s), shorter than a status word", response.len()));
        };
        let sw = u16::from_be_bytes(*sw);
        let mut wrong = Vec::new();
        if sw != self.sw {
            wrong.push(format!("status word {sw:04X}, expected {:04X}", self.sw));
        }
        if let Some(expected) = &self.data
            && data != expected.as_slice()
        {
            wrong.push(format!("data {}, expected {}", shown(data), shown(expected)));
        }
        if let Some(len) = self.data_len
            && data.len() != len
        {
            wrong.push(format!("{} data byte(s), expected {len}", data.len()));
        }
        if let Some(prefix) = &self.data_prefix
            && !data.starts_with(prefix)
        {
            wrong.push(format!("data starting {}, expected it to start {}", shown(data.get(..prefix.len()).unwrap_or(data)), shown(prefix)));
        }
        (!wrong.is_empty()).then(|| wrong.join("; "))
    }
}

impl fmt::Display for ApduExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sw {:04X}", self.sw)?;
        if let Some(data) = &self.data {
            write!(f, ", data {}", shown(data))?;
        }
        if let Some(len) = self.data_len {
            write!(f, ", {len} data byte(s)")?;
        }
        if let Some(prefix) = &self.data_prefix {
            write!(f, ", data starting {}", shown(prefix))?;
        }
        Ok(())
    }
}

/// Data for messages: hex, cut after 32 bytes.
fn shown(data: &[u8]) -> String {
    match data {
        [] => "(none)".into(),
        short if short.len() <= 32 => hex::encode_upper(short),
        long => format!("{}... ({} bytes)", hex::encode_upper(long.get(..32).unwrap_or(long)), long.len()),
    }
}
