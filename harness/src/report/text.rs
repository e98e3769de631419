//! The text report, for people at a terminal.

use std::fmt::Write as _;

use std::collections::BTreeSet;

use super::{CoverageRow, Run, Style, Summary, coverage};
use crate::play::Status;

/// The run: a line per scenario (failures with their evidence), the requirement coverage matrix,
/// then the summary as the last line (`certification:` lines after it when certifying).
pub fn text(run: &Run<'_>, requirements: &BTreeSet<String>, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "mynatap run: {} scenarios, seed {}, transport {}, suite {}", run.results.len(), run.seed, run.transport, run.suite);
    let width = run.results.iter().map(|r| r.id.len()).max().unwrap_or(0);
    for result in run.results {
        let tag = match result.status {
            Status::Passed => style.paint("32", "PASS "),
            Status::Failed => style.paint("31;1", "FAIL "),
            Status::Error => style.paint("33;1", "ERROR"),
            Status::Waived => style.paint("35", "WAIVE"),
            Status::NotApplicable => style.paint("2", "N/A  "),
        };
        let _ = writeln!(out, "{tag} {:<width$}  {}", result.id, result.title);
        if let Some(note) = &result.note {
            let _ = writeln!(out, "      {note}");
        }
        for step in &result.steps {
            if let Some(verified) = step.verified.as_ref().filter(|verified| verified.notable()) {
                let _ = writeln!(out, "      step {}: verified, {}", step.index, verified.line());
            }
        }
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
    let _ = writeln!(out, "requirement coverage:");
    for line in coverage_text(&coverage(requirements, run.results), style).lines() {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(out, "{} (seed {})", Summary::of(run.results).line(), run.seed);
    if let Some(certification) = run.certification {
        let _ = writeln!(out, "certification: {}", certification.verdict_text);
        if let Some(statement) = &certification.statement {
            let _ = writeln!(
                out,
                "statement: {} {}: paths {}; key algorithms {}",
                statement.reader_name,
                statement.reader_version,
                statement.paths.join(", "),
                statement.key_algorithms.join(", ")
            );
        }
        for flag in &certification.flags {
            let _ = writeln!(out, "{} {flag}", style.paint("33;1", "waiver:"));
        }
        let _ = writeln!(out, "reader: {}", certification.reader);
        let _ = writeln!(out, "fingerprint: {}", certification.fingerprint);
        if let Some(wait) = crate::play::evidence::PatientsWait::of(run.results.iter().flat_map(|r| r.evidence.iter())) {
            let _ = writeln!(out, "{}", wait.line());
        }
        for file in &certification.conditions.program {
            let _ = writeln!(out, "program file: {} sha256:{}", file.path, file.sha256);
        }
        if certification.conditions.session {
            let _ = writeln!(out, "reader mode: session (one program per virtual reader, a request line per tap)");
        }
        if let Some(user) = &certification.conditions.reader_user {
            let _ = writeln!(out, "reader ran as: {user}");
        }
    }
    out
}

/// The coverage matrix as text.
pub fn coverage_text(rows: &[CoverageRow], style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<8}  scenarios (last result)", "id");
    for row in rows {
        // Generated lives are many and named by number: counted, save the ones that did not pass.
        let generated = |id: &str| id.starts_with("explore-");
        let passing_lives = row.scenarios.iter().filter(|cell| generated(&cell.id) && cell.result == Status::Passed).count();
        let mut cells: Vec<String> = row
            .scenarios
            .iter()
            .filter(|cell| !(generated(&cell.id) && cell.result == Status::Passed))
            .map(|cell| {
                let mark = match cell.result {
                    Status::Passed => style.paint("32", "pass"),
                    Status::Failed => style.paint("31", "FAIL"),
                    Status::Error => style.paint("33", "ERROR"),
                    Status::Waived => style.paint("35", "waived"),
                    Status::NotApplicable => style.paint("2", "n/a"),
                };
                format!("{} ({mark})", cell.id)
            })
            .collect();
        if passing_lives > 0 {
            cells.push(format!("{passing_lives} generated {} ({})", if passing_lives == 1 { "life" } else { "lives" }, style.paint("32", "pass")));
        }
        let listed = if cells.is_empty() { style.paint("31;1", "NOT COVERED") } else { cells.join(", ") };
        let _ = writeln!(out, "{:<8}  {listed}", row.requirement);
    }
    let uncovered = rows.iter().filter(|row| row.scenarios.is_empty()).count();
    let _ = writeln!(out, "{} requirements, {} covered, {uncovered} not covered", rows.len(), rows.len() - uncovered);
    out
}
