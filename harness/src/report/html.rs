//! The HTML report: one self-contained page (inline style and SVG, no script, nothing fetched)
//! that a person reads in a browser: the verdict and the statement first, then the scenarios,
//! the requirement coverage, each failure with its evidence, and the run's tap latencies.

use std::collections::BTreeSet;
use std::fmt::Write as _;

// The XML escape is valid HTML, for content and attribute values alike.
use super::junit::xml_escape as escape;
use super::{Grade, Run, Summary, broken_rules, coverage};
use crate::play::evidence::TapEvidence;
use crate::play::{ScenarioResult, Status};

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#1a1a1a}\
h1{font-size:1.9em;margin:.2em 0}h2{margin-top:1.6em;border-bottom:1px solid #ccc}\
.verdict{padding:.8em 1em;border-radius:6px;margin-bottom:1em}\
.conformant{background:#e3f5e1;border:2px solid #2e7d32}.waivers{background:#fff6db;border:2px solid #b28704}\
.not{background:#fde7e7;border:2px solid #c62828}.plain{background:#eef2f7;border:2px solid #6b7c93}\
table{border-collapse:collapse;width:100%;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#f4f4f4}.passed{color:#2e7d32}.failed,.error{color:#c62828;font-weight:bold}.waived{color:#8e24aa}\
.not_applicable{color:#777}pre{background:#f7f7f7;padding:.5em;overflow-x:auto;font-size:12px}\
.flag{color:#b28704;font-weight:bold}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}";

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Passed => "pass",
        Status::Failed => "fail",
        Status::Error => "error",
        Status::Waived => "waived",
        Status::NotApplicable => "not applicable",
    }
}

fn status_class(status: Status) -> &'static str {
    match status {
        Status::Passed => "passed",
        Status::Failed => "failed",
        Status::Error => "error",
        Status::Waived => "waived",
        Status::NotApplicable => "not_applicable",
    }
}

/// The run as one self-contained HTML page, the verdict first.
pub fn html(run: &Run<'_>, requirements: &BTreeSet<String>) -> String {
    let summary = Summary::of(run.results);
    let mut out = String::new();
    let title = match run.certification {
        Some(certification) => format!("mynatap certification: {}", certification.verdict),
        None => format!("mynatap run: {}", if summary.exit_code() == 0 { "passed" } else { "failed" }),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(&title)
    );
    verdict_section(&mut out, run, &summary);
    scenarios_section(&mut out, run.results);
    coverage_section(&mut out, requirements, run.results);
    failures_section(&mut out, run.results);
    latency_section(&mut out, run.results);
    every_tap_section(&mut out, run.results);
    let _ =
        writeln!(out, "<footer><p>mynatap {} · seed {} · transport {}</p></footer></body></html>", env!("CARGO_PKG_VERSION"), run.seed, escape(run.transport));
    out
}

fn verdict_section(out: &mut String, run: &Run<'_>, summary: &Summary) {
    let (class, headline) = match run.certification {
        Some(certification) => {
            let class = match certification.verdict {
                Grade::Conformant => "conformant",
                Grade::ConformantWithWaivers => "waivers",
                Grade::NotConformant => "not",
            };
            (class, certification.verdict_text.clone())
        }
        None => ("plain", summary.line()),
    };
    let _ = writeln!(
        out,
        "<section id=\"verdict\" class=\"verdict {class}\"><h1 id=\"verdict-text\">{}</h1><p>{}</p></section>",
        escape(&headline),
        escape(&summary.line())
    );
    let _ = writeln!(out, "<dl>");
    if let Some(certification) = run.certification {
        if let Some(statement) = &certification.statement {
            let _ = writeln!(out, "<dt>Reader</dt><dd>{} {}</dd>", escape(&statement.reader_name), escape(&statement.reader_version));
            let _ = writeln!(out, "<dt>Paths claimed</dt><dd>{}</dd>", escape(&statement.paths.join(", ")));
            let _ = writeln!(out, "<dt>Key algorithms claimed</dt><dd>{}</dd>", escape(&statement.key_algorithms.join(", ")));
        } else {
            let _ = writeln!(out, "<dt>Statement</dt><dd>none: every scenario applies</dd>");
        }
        let _ = writeln!(out, "<dt>Reader program</dt><dd><code>{}</code></dd>", escape(&certification.reader));
        let _ = writeln!(out, "<dt>Fingerprint</dt><dd><code>{}</code></dd>", escape(&certification.fingerprint));
        for file in &certification.conditions.program {
            let _ = writeln!(out, "<dt>Program file</dt><dd><code>{}</code> sha256:<code>{}</code></dd>", escape(&file.path), escape(&file.sha256));
        }
        if let Some(user) = &certification.conditions.reader_user {
            let _ = writeln!(out, "<dt>Reader ran as</dt><dd><code>{}</code></dd>", escape(user));
        }
        let _ = writeln!(out, "<dt>Waivers judged on</dt><dd>{}</dd>", escape(&certification.judged_on));
    }
    let _ = writeln!(
        out,
        "<dt>Suite</dt><dd>{}</dd><dt>Seed</dt><dd>{}</dd><dt>Transport</dt><dd>{}</dd></dl>",
        escape(run.suite),
        run.seed,
        escape(run.transport)
    );
    if let Some(certification) = run.certification
        && !certification.flags.is_empty()
    {
        let _ = writeln!(out, "<ul>");
        for flag in &certification.flags {
            let _ = writeln!(out, "<li class=\"flag\">waiver: {}</li>", escape(flag));
        }
        let _ = writeln!(out, "</ul>");
    }
}

fn scenarios_section(out: &mut String, results: &[ScenarioResult]) {
    let _ = writeln!(
        out,
        "<h2>Scenarios</h2><table id=\"scenarios\"><thead><tr><th>scenario</th><th>result</th><th>requirements</th><th>title / note</th></tr></thead><tbody>"
    );
    for result in results {
        let mut note = result.note.as_deref().map(|note| format!("<br><em>{}</em>", escape(note))).unwrap_or_default();
        for step in &result.steps {
            if let Some(verified) = step.verified.as_ref().filter(|verified| verified.notable()) {
                note.push_str(&format!("<br><small>step {}: verified, {}</small>", step.index, escape(&verified.line())));
            }
        }
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=\"{}\">{}</td><td>{}</td><td>{}{note}</td></tr>",
            escape(&result.id),
            status_class(result.status),
            status_name(result.status),
            escape(&result.covers.join(", ")),
            escape(&result.title)
        );
    }
    let _ = writeln!(out, "</tbody></table>");
}

fn coverage_section(out: &mut String, requirements: &BTreeSet<String>, results: &[ScenarioResult]) {
    let _ = writeln!(out, "<h2>Requirement coverage</h2><table id=\"coverage\"><thead><tr><th>requirement</th><th>scenarios</th></tr></thead><tbody>");
    for row in coverage(requirements, results) {
        let cells: Vec<String> =
            row.scenarios.iter().map(|cell| format!("<span class=\"{}\">{}</span>", status_class(cell.result), escape(&cell.id))).collect();
        let listed = if cells.is_empty() { "<span class=\"failed\">not covered</span>".to_owned() } else { cells.join(", ") };
        let _ = writeln!(out, "<tr><td>{}</td><td>{listed}</td></tr>", escape(&row.requirement));
    }
    let _ = writeln!(out, "</tbody></table>");
}

fn failures_section(out: &mut String, results: &[ScenarioResult]) {
    let failing: Vec<&ScenarioResult> = results.iter().filter(|r| matches!(r.status, Status::Failed | Status::Error | Status::Waived)).collect();
    let _ = writeln!(out, "<h2>Failures</h2>");
    if failing.is_empty() {
        let _ = writeln!(out, "<p>None.</p>");
        return;
    }
    for result in failing {
        let _ = writeln!(
            out,
            "<section class=\"failure\" id=\"failure-{}\"><h3><code>{}</code> <span class=\"{}\">{}</span></h3>",
            escape(&result.id),
            escape(&result.id),
            status_class(result.status),
            status_name(result.status)
        );
        if let Some(note) = &result.note {
            let _ = writeln!(out, "<p><em>{}</em></p>", escape(note));
        }
        if let Some(error) = &result.error {
            let _ = writeln!(out, "<pre>{}</pre>", escape(error));
        }
        let Some(failure) = &result.failure else {
            let _ = writeln!(out, "</section>");
            continue;
        };
        let rules = broken_rules(&failure.actual);
        let rule_ids = if rules.is_empty() { result.covers.join(", ") } else { rules.join(", ") };
        let _ = writeln!(
            out,
            "<dl><dt>Rule</dt><dd>{}</dd><dt>Step</dt><dd>{} ({}) at {}:{}</dd><dt>Expected</dt><dd>{}</dd><dt>Actual</dt><dd>{}</dd><dt>Evidence</dt><dd>{}</dd></dl>",
            escape(&rule_ids),
            failure.step,
            failure.action,
            escape(&result.file),
            failure.line,
            escape(&failure.expected),
            escape(&failure.actual),
            escape(&failure.detail)
        );
        if !failure.transcript.is_empty() {
            let lines: Vec<String> = failure.transcript.iter().map(|exchange| escape(&exchange.to_string())).collect();
            let _ = writeln!(out, "<p>APDU transcript ({} APDUs):</p><pre>{}</pre>", lines.len(), lines.join("\n"));
        }
        if let Some(evidence) = result.evidence.iter().find(|evidence| evidence.step == failure.step) {
            let lines: Vec<String> =
                evidence.http.iter().map(|request| format!("#{} GET {} -> {}", request.sequence, escape(&request.path), request.status)).collect();
            let shown = if lines.is_empty() { "(no request)".to_owned() } else { lines.join("\n") };
            let _ = writeln!(out, "<p>HTTP transcript:</p><pre>{shown}</pre>");
            let said = evidence.verdict.as_deref().or(evidence.adapter_error.as_deref()).unwrap_or_default();
            let _ = writeln!(out, "<p>Reader program said: <code>{}</code> ({:.1} ms)</p>", escape(said), evidence.program_ms);
            let first = rules.first().copied().unwrap_or(failure.actual.as_str());
            let _ = writeln!(
                out,
                "<p>The tap as a picture (commands and requests in the order the card and the back ends saw them):</p>{}",
                super::timeline::svg(evidence, Some(first))
            );
        }
        let _ = writeln!(out, "</section>");
    }
}

/// Most taps drawn on demand: every tap of a reader program behind a `<details>` the reader
/// opens (the failing ones are drawn open above). A run with more taps than this lists none, so
/// a report of a long exploration stays small: rerun the scenario with `--filter ID`.
const MOST_TAPS_DRAWN: usize = 600;

/// Every tap of a reader program as a picture, closed until asked for.
fn every_tap_section(out: &mut String, results: &[ScenarioResult]) {
    let taps: Vec<(&ScenarioResult, &TapEvidence)> = results.iter().flat_map(|r| r.evidence.iter().map(move |e| (r, e))).collect();
    if taps.is_empty() {
        return;
    }
    let _ = writeln!(out, "<h2 id=\"every-tap\">Every tap</h2>");
    if taps.len() > MOST_TAPS_DRAWN {
        let _ = writeln!(
            out,
            "<p>{} taps: more than the {MOST_TAPS_DRAWN} this report draws. Certify the scenario alone (<code>--filter ID</code>) to see its taps.</p>",
            taps.len()
        );
        return;
    }
    for (result, evidence) in taps {
        let said = evidence.verdict.as_deref().or(evidence.adapter_error.as_deref()).unwrap_or("no verdict");
        let _ = writeln!(
            out,
            "<details><summary>{} step {}: {}</summary>{}</details>",
            escape(&result.id),
            evidence.step,
            escape(&said.chars().take(120).collect::<String>()),
            super::timeline::svg(evidence, None)
        );
    }
}

/// Per-tap time as a bar chart: the whole tap (grey) and the reader program's part (blue).
fn latency_section(out: &mut String, results: &[ScenarioResult]) {
    let taps: Vec<(&str, &TapEvidence)> = results.iter().flat_map(|r| r.evidence.iter().map(move |e| (r.id.as_str(), e))).collect();
    let _ = writeln!(out, "<h2>Tap latency</h2>");
    if taps.is_empty() {
        let _ = writeln!(out, "<p>No reader program ran (a run in memory or over PC/SC with mynatap's own terminal): no per-tap times.</p>");
        return;
    }
    let program: f64 = taps.iter().map(|(_, e)| e.program_ms).sum();
    let total: f64 = taps.iter().map(|(_, e)| e.tap_ms).sum();
    let count = taps.len() as f64;
    let _ = writeln!(
        out,
        "<p id=\"latency-summary\">{} taps: the reader program {:.0} ms in all ({:.1} ms per tap); the harness around it {:.1} ms per tap (serving the device and the back ends, fault waits included).</p>",
        taps.len(),
        program,
        program / count,
        (total - program).max(0.0) / count
    );
    if let Some(wait) = crate::play::evidence::PatientsWait::of(taps.iter().map(|(_, e)| *e)) {
        let _ = writeln!(out, "<p id=\"patients-wait\">{}</p>", escape(&wait.line()));
    }
    let (bar, gap, height, left, bottom) = (8.0, 2.0, 220.0, 48.0, 20.0);
    let max = taps.iter().map(|(_, e)| e.tap_ms.max(e.program_ms)).fold(1.0_f64, f64::max);
    let width = left + count * (bar + gap) + 10.0;
    let _ = writeln!(
        out,
        "<svg id=\"latency\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{:.0}\" viewBox=\"0 0 {width:.0} {:.0}\" role=\"img\" aria-label=\"per-tap time\">",
        height + bottom,
        height + bottom
    );
    let _ = writeln!(
        out,
        "<line x1=\"{left}\" y1=\"0\" x2=\"{left}\" y2=\"{height}\" stroke=\"#999\"/><line x1=\"{left}\" y1=\"{height}\" x2=\"{width:.0}\" y2=\"{height}\" stroke=\"#999\"/>"
    );
    let _ = writeln!(out, "<text x=\"2\" y=\"12\" font-size=\"11\">{max:.0} ms</text><text x=\"2\" y=\"{height}\" font-size=\"11\">0</text>");
    for (index, (id, evidence)) in taps.iter().enumerate() {
        let x = left + index as f64 * (bar + gap) + gap;
        let total_h = evidence.tap_ms / max * height;
        let program_h = evidence.program_ms / max * height;
        let _ = writeln!(
            out,
            "<g><title>{} step {}: tap {:.1} ms, reader program {:.1} ms</title><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar}\" height=\"{total_h:.1}\" fill=\"#bbb\"/><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar}\" height=\"{program_h:.1}\" fill=\"#1e6bb8\"/></g>",
            escape(id),
            evidence.step,
            evidence.tap_ms,
            evidence.program_ms,
            height - total_h,
            height - program_h
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{left}\" y=\"{:.0}\" font-size=\"11\">taps in suite order (blue: the reader program; grey: the whole tap)</text></svg>",
        height + 15.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_outside_is_escaped() {
        assert_eq!(escape("<script>\"a\" & 'b'</script>"), "&lt;script&gt;&quot;a&quot; &amp; &apos;b&apos;&lt;/script&gt;");
    }

    #[test]
    fn a_run_without_certification_names_its_result_and_fetches_nothing() {
        let run = Run { results: &[], seed: 1, transport: "memory", suite: "scenarios/", certification: None };
        let page = html(&run, &BTreeSet::new());
        assert!(page.contains("<h1 id=\"verdict-text\">0 scenarios: 0 passed"));
        assert!(!page.contains("http://") || page.matches("http://").all(|_| page.contains("xmlns=\"http://www.w3.org/2000/svg\"")));
        assert!(!page.contains("src=") && !page.contains("href="), "nothing is fetched");
    }
}
