//! Reports: text for people, JSON and JUnit XML for machines, one self-contained HTML page for a
//! reader in a browser, the coverage matrix, and shards merged into one.

mod conditions;
pub mod html;
pub mod json;
pub mod junit;
pub mod merge;
pub mod text;
mod timeline;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::play::{ScenarioResult, Status};

pub use conditions::{Conditions, Lives, ProgramFile};
pub use html::html;
pub use json::json;
pub use junit::junit;
pub use text::{coverage_text, text};

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    /// Scenarios in all.
    pub total: usize,
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Could not be played.
    pub errors: usize,
    #[serde(default)]
    /// Failed under a valid waiver.
    pub waived: usize,
    #[serde(default)]
    /// Outside the reader's statement or contract.
    pub not_applicable: usize,
}

impl Summary {
    /// The counts of some results.
    pub fn of(results: &[ScenarioResult]) -> Self {
        Self::of_statuses(results.iter().map(|result| result.status))
    }

    /// The counts of some statuses.
    pub fn of_statuses(statuses: impl IntoIterator<Item = Status>) -> Self {
        let mut summary = Self::default();
        for status in statuses {
            summary.total += 1;
            match status {
                Status::Passed => summary.passed += 1,
                Status::Failed => summary.failed += 1,
                Status::Error => summary.errors += 1,
                Status::Waived => summary.waived += 1,
                Status::NotApplicable => summary.not_applicable += 1,
            }
        }
        summary
    }

    /// 0 all passed (or waived, or not applicable), 1 some scenario failed, 2 some file or
    /// world could not be used.
    pub fn exit_code(&self) -> i32 {
        if self.errors > 0 {
            2
        } else if self.failed > 0 {
            1
        } else {
            0
        }
    }

    /// `50 scenarios: 48 passed, 1 failed, 0 errors` and, when there are any, waived and not
    /// applicable counts.
    pub fn line(&self) -> String {
        let mut line = format!("{} scenarios: {} passed, {} failed, {} errors", self.total, self.passed, self.failed, self.errors);
        if self.waived > 0 {
            line.push_str(&format!(", {} waived", self.waived));
        }
        if self.not_applicable > 0 {
            line.push_str(&format!(", {} not applicable", self.not_applicable));
        }
        line
    }
}

/// A certification's grade (Autobahn's): reports and bundles write it as `conformant`,
/// `conformant with waivers` or `not conformant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Grade {
    /// Every applicable scenario passed.
    #[serde(rename = "conformant")]
    Conformant,
    /// Every applicable scenario passed or failed under a waiver that holds.
    #[serde(rename = "conformant with waivers")]
    ConformantWithWaivers,
    /// A scenario failed (or errored) with no waiver for it.
    #[serde(rename = "not conformant")]
    NotConformant,
}

impl Grade {
    /// The grade as reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Conformant => "conformant",
            Self::ConformantWithWaivers => "conformant with waivers",
            Self::NotConformant => "not conformant",
        }
    }
}

/// The grade and its sentence for a run's counts; `paths` are the statement's claimed paths
/// (`None`: no statement, every path).
pub fn grade_text(summary: &Summary, paths: Option<&[String]>) -> (Grade, String) {
    let scope = paths.map(|paths| format!(" for {}", paths.join(", "))).unwrap_or_default();
    let not_applicable = match summary.not_applicable {
        0 => String::new(),
        1 => "; 1 scenario not applicable".to_owned(),
        n => format!("; {n} scenarios not applicable"),
    };
    if summary.failed + summary.errors > 0 {
        let count = summary.failed + summary.errors;
        let what = if count == 1 { "1 scenario failed".to_owned() } else { format!("{count} scenarios failed") };
        let waived = if summary.waived > 0 { format!(", {} waived", summary.waived) } else { String::new() };
        (Grade::NotConformant, format!("not conformant{scope}: {what}{waived}{not_applicable}"))
    } else if summary.waived > 0 {
        (Grade::ConformantWithWaivers, format!("conformant with waivers{scope} ({} waived){not_applicable}", summary.waived))
    } else {
        (Grade::Conformant, format!("conformant{scope}{not_applicable}"))
    }
}

impl std::fmt::Display for Grade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a certification adds to a report: the graded verdict and what it was about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificationInfo {
    /// The grade.
    pub verdict: Grade,
    /// The verdict as a sentence: `conformant for android, card-pin; 12 scenarios not applicable`.
    pub verdict_text: String,
    /// The reader program's command.
    pub reader: String,
    /// `sha256:…` over the scenario files and the profiles that ran.
    pub fingerprint: String,
    /// The date waivers were judged against (YYYY-MM-DD).
    pub judged_on: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    /// The reader's conformance statement, if one was given.
    pub statement: Option<StatementInfo>,
    /// Waivers that are expired, not needed, or name no scenario of the suite.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Fewer scenarios were judged than the suite holds (`--filter`, `--shard`, a merge of some
    /// shards with `--partial`): how many of how many. The verdict speaks for those only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<String>,
    /// How the run came about: its seed, its generated lives, the reader's containment, the
    /// program's files (docs/certification.md).
    #[serde(default)]
    pub conditions: Conditions,
}

/// The reader's conformance statement, as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementInfo {
    /// The reader's product name.
    pub reader_name: String,
    /// The reader's version.
    pub reader_version: String,
    /// The device paths it claims.
    pub paths: Vec<String>,
    /// The key algorithms it claims to verify.
    pub key_algorithms: Vec<String>,
}

/// A run to report: its results and how they came about.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// Every scenario's result, in suite order.
    pub results: &'a [ScenarioResult],
    /// The run's seed.
    pub seed: u64,
    /// `memory` or `pcsc`.
    pub transport: &'a str,
    /// Where the scenarios came from: `scenarios/` or `built-in suite of mynatap 0.1.0`.
    pub suite: &'a str,
    /// The certification's verdict and particulars (`certify` only).
    pub certification: Option<&'a CertificationInfo>,
}

/// One requirement's row: which scenarios cover it and how they did.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageRow {
    /// The requirement id.
    pub requirement: String,
    /// The scenarios covering it.
    pub scenarios: Vec<CoverageCell>,
}

#[derive(Debug, Clone, Serialize)]
/// One scenario covering a requirement, and how it did.
pub struct CoverageCell {
    /// The scenario's id.
    pub id: String,
    /// Its status.
    pub result: Status,
}

/// Each requirement with the scenarios that cover it and how they did.
pub fn coverage(requirements: &BTreeSet<String>, results: &[ScenarioResult]) -> Vec<CoverageRow> {
    coverage_of(requirements, results.iter().map(|result| (result.id.as_str(), result.covers.as_slice(), result.status)))
}

/// The coverage matrix of (id, covers, status) rows, as shard merging has them.
pub fn coverage_of<'a>(requirements: &BTreeSet<String>, rows: impl Iterator<Item = (&'a str, &'a [String], Status)> + Clone) -> Vec<CoverageRow> {
    let mut ids: Vec<&String> = requirements.iter().collect();
    ids.sort_by_key(|id| requirement_order(id));
    ids.into_iter()
        .map(|requirement| CoverageRow {
            requirement: requirement.clone(),
            scenarios: rows
                .clone()
                // A scenario that was not played covers nothing.
                .filter(|(_, covers, status)| covers.contains(requirement) && *status != Status::NotApplicable)
                .map(|(id, _, status)| CoverageCell { id: id.to_owned(), result: status })
                .collect(),
        })
        .collect()
}

/// SETUP, FLOW, then Q ids, each numerically.
fn requirement_order(id: &str) -> (u8, u32, String) {
    let (prefix, number) = id.rsplit_once(['-', 'Q']).unwrap_or((id, ""));
    let group = match prefix {
        "SETUP" => 0,
        "FLOW" => 1,
        "" => 2,
        _ => 3,
    };
    (group, number.parse().unwrap_or(u32::MAX), id.to_owned())
}

/// Colours, used only when writing to a terminal.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Whether to colour.
    pub colour: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }
}

/// The wire rules a failure broke (`W1-…`), read off its actual text.
pub fn broken_rules(actual: &str) -> Vec<&str> {
    actual.split_once("breaking rule ").map(|(_, rules)| rules.split(", ").collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_follow_failures_waivers_and_the_statement() {
        let paths = ["android".to_owned(), "card-pin".to_owned()];
        let clean = Summary { total: 50, passed: 38, not_applicable: 12, ..Summary::default() };
        assert_eq!(grade_text(&clean, Some(&paths)), (Grade::Conformant, "conformant for android, card-pin; 12 scenarios not applicable".into()));
        let waived = Summary { total: 3, passed: 2, waived: 1, ..Summary::default() };
        assert_eq!(grade_text(&waived, None).1, "conformant with waivers (1 waived)");
        let failed = Summary { total: 3, passed: 1, failed: 1, waived: 1, ..Summary::default() };
        assert_eq!(grade_text(&failed, None).1, "not conformant: 1 scenario failed, 1 waived");
    }
}
