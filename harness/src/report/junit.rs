//! The JUnit XML report, for CI systems: a failure per failed scenario, `skipped` for waived
//! and not-applicable ones (with the reason), so a CI page shows them without going red.

use std::fmt::Write as _;

use super::{Run, Summary};
use crate::play::Status;

pub(crate) fn xml_escape(text: &str) -> String {
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

/// The run as JUnit XML (one test case a scenario).
pub fn junit(run: &Run<'_>) -> String {
    let summary = Summary::of(run.results);
    let skipped = summary.waived + summary.not_applicable;
    let name = match run.certification {
        Some(certification) => format!("mynatap certification: {} {}", certification.verdict, certification.fingerprint),
        None => "mynatap".to_owned(),
    };
    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(out, r#"<testsuites name="{}" tests="{}" failures="{}" errors="{}">"#, xml_escape(&name), summary.total, summary.failed, summary.errors);
    let _ = writeln!(
        out,
        r#"  <testsuite name="mynatap.conformance" tests="{}" failures="{}" errors="{}" skipped="{skipped}">"#,
        summary.total, summary.failed, summary.errors
    );
    let _ = writeln!(
        out,
        r#"    <properties><property name="seed" value="{}"/><property name="transport" value="{}"/><property name="suite" value="{}"/></properties>"#,
        run.seed,
        xml_escape(run.transport),
        xml_escape(run.suite)
    );
    for result in run.results {
        let _ = write!(out, r#"    <testcase classname="mynatap.scenarios" name="{}" file="{}""#, xml_escape(&result.id), xml_escape(&result.file));
        // Every verified tap's eligibility answer, grace and warning, for people reading CI.
        let verified: Vec<String> = result
            .steps
            .iter()
            .filter_map(|step| step.verified.as_ref().map(|verified| format!("step {}: verified, {}", step.index, verified.line())))
            .collect();
        let system_out = if verified.is_empty() { String::new() } else { format!("      <system-out>{}</system-out>\n", xml_escape(&verified.join("\n"))) };
        let note = result.note.as_deref().unwrap_or_default();
        match (result.status, &result.failure, &result.error) {
            (Status::NotApplicable, _, _) => {
                let _ = writeln!(out, ">\n      <skipped message=\"not applicable: {}\"/>\n    </testcase>", xml_escape(note));
            }
            (Status::Waived, _, _) => {
                let _ = writeln!(out, ">\n      <skipped message=\"waived: {}\"/>\n    </testcase>", xml_escape(note));
            }
            (_, Some(failure), _) => {
                let message = format!("step {} ({}): expected {}, got {}", failure.step, failure.action, failure.expected, failure.actual);
                let mut body = format!("{}\n", failure.detail);
                for exchange in &failure.transcript {
                    let _ = writeln!(body, "{exchange}");
                }
                let _ = writeln!(out, ">");
                let _ = writeln!(out, r#"      <failure message="{}" type="step_mismatch">{}</failure>"#, xml_escape(&message), xml_escape(&body));
                let _ = write!(out, "{system_out}");
                let _ = writeln!(out, "    </testcase>");
            }
            (_, None, Some(error)) => {
                let _ = writeln!(out, ">");
                let _ = writeln!(out, r#"      <error message="{}" type="input_error"/>"#, xml_escape(error));
                let _ = writeln!(out, "    </testcase>");
            }
            (_, None, None) if system_out.is_empty() => {
                let _ = writeln!(out, "/>");
            }
            (_, None, None) => {
                let _ = write!(out, ">\n{system_out}");
                let _ = writeln!(out, "    </testcase>");
            }
        }
    }
    let _ = writeln!(out, "  </testsuite>");
    let _ = writeln!(out, "</testsuites>");
    out
}
