//! Waivers: known failures a certifier accepts for a while, each with a reason and an expiry
//! date (BoGo's expected failures, with dates). A waiver covers a failure only until it expires;
//! one that is expired, not needed, or names no scenario is flagged in the report.

use serde::Deserialize;
use time::Date;

/// The waivers format this harness reads (`mynatap_waivers: 1`).
pub const FORMAT_VERSION: u32 = 1;

const MAX_BYTES: usize = 256 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaivers {
    mynatap_waivers: u32,
    waivers: Vec<RawWaiver>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaiver {
    scenario: String,
    reason: String,
    expires: String,
}

/// One accepted failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    /// The waived scenario's id.
    pub scenario: String,
    /// Why the failure is accepted.
    pub reason: String,
    /// The last day the waiver holds.
    pub expires: Date,
}

/// A waivers file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("waivers {file}: {message}")]
pub struct WaiversError {
    /// The waivers file.
    pub file: String,
    /// What is wrong, and what to do.
    pub message: String,
}

impl Waiver {
    /// Whether it still holds on `today` (the expiry day included).
    pub fn holds_on(&self, today: Date) -> bool {
        today <= self.expires
    }
}

/// Reads a waivers file; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Vec<Waiver>, WaiversError> {
    let error = |message: String| WaiversError { file: file.to_owned(), message };
    let raw: RawWaivers = super::read_yaml(text, MAX_BYTES).map_err(error)?;
    if raw.mynatap_waivers != FORMAT_VERSION {
        return Err(error(format!("mynatap_waivers: version {} is not known; this mynatap reads version {FORMAT_VERSION}", raw.mynatap_waivers)));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let mut waivers: Vec<Waiver> = Vec::new();
    for (index, waiver) in raw.waivers.into_iter().enumerate() {
        if waiver.reason.trim().is_empty() {
            return Err(error(format!("waivers[{index}] ({}): reason: say why the failure is accepted (an auditor reads it)", waiver.scenario)));
        }
        let expires = Date::parse(&waiver.expires, format)
            .map_err(|_| error(format!("waivers[{index}] ({}): expires: expected a date YYYY-MM-DD, got `{}`", waiver.scenario, waiver.expires)))?;
        if waivers.iter().any(|other| other.scenario == waiver.scenario) {
            return Err(error(format!("waivers[{index}]: a second waiver for `{}`: keep one", waiver.scenario)));
        }
        waivers.push(Waiver { scenario: waiver.scenario, reason: waiver.reason, expires });
    }
    Ok(waivers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn a_waiver_holds_through_its_expiry_day() {
        let waivers = parse("w.yaml", "mynatap_waivers: 1\nwaivers:\n  - {scenario: a, reason: vendor bug 12, expires: 2027-03-31}\n").unwrap();
        let waiver = waivers.first().unwrap();
        assert!(waiver.holds_on(date!(2027 - 03 - 31)));
        assert!(!waiver.holds_on(date!(2027 - 04 - 01)));
    }

    #[test]
    fn bad_waivers_are_errors_that_say_what_to_do() {
        let no_reason = parse("w.yaml", "mynatap_waivers: 1\nwaivers:\n  - {scenario: a, reason: ' ', expires: 2027-03-31}\n").unwrap_err();
        assert!(no_reason.message.contains("say why"), "{no_reason}");
        let bad_date = parse("w.yaml", "mynatap_waivers: 1\nwaivers:\n  - {scenario: a, reason: r, expires: 31/03/2027}\n").unwrap_err();
        assert!(bad_date.message.contains("expected a date YYYY-MM-DD"), "{bad_date}");
        let twice = parse(
            "w.yaml",
            "mynatap_waivers: 1\nwaivers:\n  - {scenario: a, reason: r, expires: 2027-03-31}\n  - {scenario: a, reason: s, expires: 2027-03-31}\n",
        )
        .unwrap_err();
        assert!(twice.message.contains("second waiver"), "{twice}");
        assert!(parse("w.yaml", "mynatap_waivers: 1\nwaivers: []\nextra: 1\n").unwrap_err().message.contains("unknown field"));
    }
}
