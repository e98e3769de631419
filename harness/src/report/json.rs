//! The JSON report (format_version 1; fields are only ever added), for machines.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{CertificationInfo, CoverageRow, Run, Summary, coverage};
use crate::play::ScenarioResult;

/// The whole JSON report.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    /// `mynatap`.
    pub tool: &'static str,
    /// mynatap's version.
    pub version: &'static str,
    /// The report format's version.
    pub format_version: u32,
    /// The run's seed.
    pub seed: u64,
    /// `memory` or `pcsc`.
    pub transport: &'a str,
    /// Where the scenarios came from.
    pub suite: &'a str,
    /// Counts.
    pub summary: Summary,
    /// Every scenario's result.
    pub scenarios: &'a [ScenarioResult],
    /// The requirements and the scenarios that cover them.
    pub coverage: Vec<CoverageRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The certification's verdict and particulars (`certify` only).
    pub certification: Option<&'a CertificationInfo>,
    /// The patient's wait over the reader program's taps (`certify` only), in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patients_wait: Option<WaitJson>,
}

/// The patient's wait as the JSON report writes it.
#[derive(Debug, Serialize)]
pub struct WaitJson {
    /// Taps that reached the card.
    pub taps: usize,
    /// Card presented -> the reader's first APDU: median, ms.
    pub presented_to_first_apdu_median_ms: f64,
    /// ... 95th percentile, ms.
    pub presented_to_first_apdu_p95_ms: f64,
    /// The reader's first APDU -> its verdict line: median, ms.
    pub first_apdu_to_verdict_median_ms: f64,
    /// ... 95th percentile, ms.
    pub first_apdu_to_verdict_p95_ms: f64,
    /// Contract 1.3: taps whose card arrived after the request, apart (not in the figures above).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrivals: Option<ArrivalsJson>,
}

/// The wait of taps whose card arrived after the request (pcscd's polling included).
#[derive(Debug, Serialize)]
pub struct ArrivalsJson {
    /// Such taps that reached the card.
    pub taps: usize,
    /// Card presented -> the reader's first APDU: median, ms.
    pub presented_to_first_apdu_median_ms: f64,
    /// ... 95th percentile, ms.
    pub presented_to_first_apdu_p95_ms: f64,
}

/// The run as the JSON report (pretty, newline-terminated).
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
        patients_wait: crate::play::evidence::PatientsWait::of(run.results.iter().flat_map(|r| r.evidence.iter())).map(|wait| WaitJson {
            taps: wait.taps,
            presented_to_first_apdu_median_ms: wait.to_first_apdu.0,
            presented_to_first_apdu_p95_ms: wait.to_first_apdu.1,
            first_apdu_to_verdict_median_ms: wait.to_verdict.0,
            first_apdu_to_verdict_p95_ms: wait.to_verdict.1,
            arrivals: wait.arrivals.map(|(taps, (median, p95))| ArrivalsJson {
                taps,
                presented_to_first_apdu_median_ms: median,
                presented_to_first_apdu_p95_ms: p95,
            }),
        }),
    };
    let mut text = serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    text.push('\n');
    text
}
