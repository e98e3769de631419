//! Reports: text for people, JSON and JUnit XML for machines, and the coverage matrix.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use crate::runner::{ScenarioResult, Status};

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
}

impl Summary {
    pub fn of(results: &[ScenarioResult]) -> Self {
        let mut summary = Self { total: results.len(), ..Self::default() };
        for result in results {
            match result.status {
                Status::Passed => summary.passed += 1,
                Status::Failed => summary.failed += 1,
                Status::Error => summary.errors += 1,
            }
        }
        summary
    }
    /// 0 all passed, 1 some scenario failed, 2 some file or world could not be used.
    pub fn exit_code(&self) -> i32 {
        if self.errors > 0 {
            2
        } else if self.failed > 0 {
            1
        } else {
            0
        }
    }
}

/// One requirement's row: which scenarios cover it and how they did.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageRow {
    pub requirement: String,
    pub scenarios: Vec<CoverageCell>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CoverageCell {
    pub id: String,
    pub result: Status,
}

pub fn coverage(requirements: &BTreeSet<String>, results: &[ScenarioResult]) -> Vec<CoverageRow> {
    let mut ids: Vec<&String> = requirements.iter().collect();
    ids.sort_by_key(|id| requirement_order(id));
    ids.into_iter()
        .map(|requirement| CoverageRow {
            requirement: requirement.clone(),
            scenarios: results
                .iter()
                .filter(|result| result.covers.contains(requirement))
                .map(|result| CoverageCell { id: result.id.clone(), result: result.status })
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

/// The whole JSON report.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    pub tool: &'static str,
    pub version: &'static str,
    pub format_version: u32,
    pub seed: u64,
    pub transport: &'a str,
    pub summary: Summary,
    pub scenarios: &'a [ScenarioResult],
    pub coverage: Vec<CoverageRow>,
}

/// Colours, used only when writing to a terminal.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }
}

pub fn text(results: &[ScenarioResult], seed: u64, transport: &str, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "mynatap run: {} scenarios, seed {seed}, transport {transport}", results.len());
    let width = results.iter().map(|r| r.id.len()).max().unwrap_or(0);
    for result in results {
        let tag = match result.status {
            Status::Passed => style.paint("32", "PASS "),
            Status::Failed => style.paint("31;1", "FAIL "),
            Status::Error => style.paint("33;1", "ERROR"),
        };
        let _ = writeln!(out, "{tag} {:<width$}  {}", result.id, result.title);
        if let Some(error) = &result.error {
            let _ = writeln!(out, "      {error}");
        }
        if let Some(failure) = &result.failure {
            let _ = writeln!(out, "      step {} ({}) at {}:{}", failure.step, failure.action, result.file, failure.line);
            let _ = writeln!(out, "        expected: {}", failure.expected);
            let _ = writeln!(out, "        actual:   {}", failure.actual);
            if !failure.detail.is_empty() {
                let _ = writeln!(out, "        detail:   {}", failure.detail);
            }
            if !failure.transcript.is_empty() {
                let _ = writeln!(out, "        transcript ({} APDUs):", failure.transcript.len());
                for exchange in &failure.transcript {
                    let _ = writeln!(out, "          {exchange}");
                }
            }
        }
    }
    let summary = Summary::of(results);
    let _ = writeln!(
        out,
        "{} scenarios: {} passed, {} failed, {} errors (seed {seed})",
        summary.total, summary.passed, summary.failed, summary.errors
    );
    out
}

pub fn json(results: &[ScenarioResult], seed: u64, transport: &str, requirements: &BTreeSet<String>) -> String {
    let report = JsonReport {
        tool: "mynatap",
        version: env!("CARGO_PKG_VERSION"),
        format_version: 1,
        seed,
        transport,
        summary: Summary::of(results),
        scenarios: results,
        coverage: coverage(requirements, results),
    };
    let mut text = serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    text.push('\n');
    text
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

pub fn junit(results: &[ScenarioResult], seed: u64, transport: &str) -> String {
    let summary = Summary::of(results);
    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<testsuites name="mynatap" tests="{}" failures="{}" errors="{}">"#,
        summary.total, summary.failed, summary.errors
    );
    let _ = writeln!(
        out,
        r#"  <testsuite name="mynatap.conformance" tests="{}" failures="{}" errors="{}" skipped="0">"#,
        summary.total, summary.failed, summary.errors
    );
    let _ = writeln!(out, r#"    <properties><property name="seed" value="{seed}"/><property name="transport" value="{}"/></properties>"#, xml_escape(transport));
    for result in results {
        let _ = write!(
            out,
            r#"    <testcase classname="mynatap.scenarios" name="{}" file="{}""#,
            xml_escape(&result.id),
            xml_escape(&result.file)
        );
        match (&result.failure, &result.error) {
            (Some(failure), _) => {
                let message = format!("step {} ({}): expected {}, got {}", failure.step, failure.action, failure.expected, failure.actual);
                let mut body = format!("{}\n", failure.detail);
                for exchange in &failure.transcript {
                    let _ = writeln!(body, "{exchange}");
                }
                let _ = writeln!(out, ">");
                let _ = writeln!(out, r#"      <failure message="{}" type="step_mismatch">{}</failure>"#, xml_escape(&message), xml_escape(&body));
                let _ = writeln!(out, "    </testcase>");
            }
            (None, Some(error)) => {
                let _ = writeln!(out, ">");
                let _ = writeln!(out, r#"      <error message="{}" type="input_error"/>"#, xml_escape(error));
                let _ = writeln!(out, "    </testcase>");
            }
            (None, None) => {
                let _ = writeln!(out, "/>");
            }
        }
    }
    let _ = writeln!(out, "  </testsuite>");
    let _ = writeln!(out, "</testsuites>");
    out
}

pub fn coverage_text(rows: &[CoverageRow], style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<8}  scenarios (last result)", "id");
    for row in rows {
        let cells: Vec<String> = row
            .scenarios
            .iter()
            .map(|cell| {
                let mark = match cell.result {
                    Status::Passed => style.paint("32", "pass"),
                    Status::Failed => style.paint("31", "FAIL"),
                    Status::Error => style.paint("33", "ERROR"),
                };
                format!("{} ({mark})", cell.id)
            })
            .collect();
        let listed = if cells.is_empty() { style.paint("31;1", "NOT COVERED") } else { cells.join(", ") };
        let _ = writeln!(out, "{:<8}  {listed}", row.requirement);
    }
    let uncovered = rows.iter().filter(|row| row.scenarios.is_empty()).count();
    let _ = writeln!(out, "{} requirements, {} covered, {uncovered} not covered", rows.len(), rows.len() - uncovered);
    out
}
