//! The JSON report (format_version 1; fields are only ever added), for machines.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{coverage, CertificationInfo, CoverageRow, Run, Summary};
use crate::play::ScenarioResult;

/// The whole JSON report.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    pub tool: &'static str,
    pub version: &'static str,
    pub format_version: u32,
    pub seed: u64,
    pub transport: &'a str,
    pub suite: &'a str,
    pub summary: Summary,
    pub scenarios: &'a [ScenarioResult],
    pub coverage: Vec<CoverageRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certification: Option<&'a CertificationInfo>,
}

pub fn json(run: &Run<'_>, requirements: &BTreeSet<String>) -> String {
    let report = JsonReport {
        tool: "mynatap",
        version: env!("CARGO_PKG_VERSION"),
        format_version: 1,
        seed: run.seed,
        transport: run.transport,
        suite: run.suite,
        summary: Summary::of(run.results),
        scenarios: run.results,
        coverage: coverage(requirements, run.results),
        certification: run.certification,
    };
    let mut text = serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    text.push('\n');
    text
}
