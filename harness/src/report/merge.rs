//! `mynatap report merge`: the JSON or JUnit reports of `--shard K/N` runs made into one, as if
//! the suite had run in one go. Shards of different suites, seeds or readers are refused, and
//! so is a scenario reported by two shards.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::junit::xml_escape;
use super::{CertificationInfo, Summary, coverage_of};
use crate::play::Status;

/// Largest report read (a whole-suite JSON report with transcripts is well under this).
pub const MAX_REPORT_BYTES: usize = 64 * 1024 * 1024;

/// Why reports cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MergeError(pub String);

/// One report to merge: its name (for errors) and its text.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Its name, for errors.
    pub name: &'a str,
    /// Its text.
    pub text: &'a str,
}

/// A merged report and its counts.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The merged report's text.
    pub text: String,
    /// The merged counts.
    pub summary: Summary,
}

/// Checks that the reports' suites (`SUITE, shard K/N`) make a whole set of shards: every K of
/// one N. A set with shards missing is refused unless `partial`, and then the words that say so
/// come back. Reports of unsharded runs need no check.
fn shard_set(labels: &[(&str, Option<String>)], partial: bool) -> Result<Option<String>, MergeError> {
    let mut shards: Vec<(&str, Option<(usize, usize)>)> = Vec::new();
    for (name, label) in labels {
        let shard = label.as_deref().and_then(|label| label.rsplit_once(", shard ")).and_then(|(_, shard)| {
            let (k, n) = shard.split_once('/')?;
            Some((k.trim().parse::<usize>().ok()?, n.trim().parse::<usize>().ok()?))
        });
        shards.push((name, shard));
    }
    let Some((first_name, Some((_, n)))) = shards.iter().find(|(_, shard)| shard.is_some()).copied() else { return Ok(None) };
    if let Some((name, _)) = shards.iter().find(|(_, shard)| shard.is_none_or(|(_, other)| other != n)) {
        return Err(MergeError(format!("{name} is not a shard of {n} like {first_name}: merge the shards of one `--shard K/{n}` run")));
    }
    let have: BTreeSet<usize> = shards.iter().filter_map(|(_, shard)| shard.map(|(k, _)| k)).collect();
    let missing: Vec<String> = (1..=n).filter(|k| !have.contains(k)).map(|k| format!("{k}/{n}")).collect();
    if missing.is_empty() {
        return Ok(None);
    }
    if !partial {
        return Err(MergeError(format!(
            "shard{} {} missing: a merge of some shards is not the suite's result; merge all {n}, or give --partial to merge these (the report then says partial)",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        )));
    }
    let merged: Vec<String> = have.iter().map(|k| format!("{k}/{n}")).collect();
    Ok(Some(format!("partial: shards {} of {n} merged ({} missing)", merged.join(", "), missing.join(", "))))
}

/// Merges reports of one kind (all JSON or all JUnit XML, told by their first character). An
/// incomplete set of shards is refused unless `partial` (and the merged report then says so).
pub fn merge(inputs: &[Input<'_>], partial: bool) -> Result<Merged, MergeError> {
    let Some(first) = inputs.first() else {
        return Err(MergeError("no reports to merge".into()));
    };
    let is_json = |text: &str| text.trim_start().starts_with('{');
    let json = is_json(first.text);
    if let Some(other) = inputs.iter().find(|input| is_json(input.text) != json) {
        return Err(MergeError(format!(
            "{} is {} but {} is not: merge reports of one format",
            first.name,
            if json { "JSON" } else { "JUnit XML" },
            other.name
        )));
    }
    if json { merge_json(inputs, partial) } else { merge_junit(inputs, partial) }
}

fn merge_json(inputs: &[Input<'_>], partial: bool) -> Result<Merged, MergeError> {
    let mut reports = Vec::new();
    for input in inputs {
        let value: Value = serde_json::from_str(input.text).map_err(|e| MergeError(format!("{}: not a JSON report: {e}", input.name)))?;
        if value.get("tool").and_then(Value::as_str) != Some("mynatap") || !value.get("scenarios").is_some_and(Value::is_array) {
            return Err(MergeError(format!("{}: not a mynatap JSON report (run or certify with --format json)", input.name)));
        }
        reports.push((input.name, value));
    }
    let (first_name, first) = reports.first().cloned().ok_or_else(|| MergeError("no reports to merge".into()))?;
    // A shard's suite is `SUITE, shard K/N`: shards of one run share SUITE.
    let suite_of =
        |report: &Value| report.get("suite").and_then(Value::as_str).map(|suite| suite.rsplit_once(", shard ").map_or(suite, |(base, _)| base).to_owned());
    for (name, report) in &reports {
        if suite_of(report) != suite_of(&first) {
            return Err(MergeError(format!(
                "{name} and {first_name} are shards of different suites ({} vs {})",
                show(report.get("suite")),
                show(first.get("suite"))
            )));
        }
    }
    for key in ["seed", "transport"] {
        for (name, report) in &reports {
            if report.get(key) != first.get(key) {
                return Err(MergeError(format!(
                    "{name} and {first_name} differ in `{key}` ({} vs {}): shards of one run share it",
                    show(report.get(key)),
                    show(first.get(key))
                )));
            }
        }
    }
    let certifications: Vec<(&str, Option<CertificationInfo>)> = reports
        .iter()
        .map(|(name, report)| {
            let info = report.get("certification").map(|c| serde_json::from_value::<CertificationInfo>(c.clone()));
            match info {
                Some(Ok(info)) => Ok((*name, Some(info))),
                Some(Err(e)) => Err(MergeError(format!("{name}: certification: {e}"))),
                None => Ok((*name, None)),
            }
        })
        .collect::<Result<_, _>>()?;
    let mut seen: HashMap<String, &str> = HashMap::new();
    let mut scenarios: Vec<Value> = Vec::new();
    let mut requirements = BTreeSet::new();
    for (name, report) in &reports {
        for scenario in report.get("scenarios").and_then(Value::as_array).into_iter().flatten() {
            let id = scenario.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            if let Some(other) = seen.insert(id.clone(), name) {
                return Err(MergeError(format!("scenario `{id}` is in both {other} and {name}: shards must not overlap (use --shard K/N with one N)")));
            }
            scenarios.push(scenario.clone());
        }
        for row in report.get("coverage").and_then(Value::as_array).into_iter().flatten() {
            if let Some(requirement) = row.get("requirement").and_then(Value::as_str) {
                requirements.insert(requirement.to_owned());
            }
        }
    }
    // Checked after the overlap: the same shard given twice is named as such.
    let labels: Vec<(&str, Option<String>)> =
        reports.iter().map(|(name, report)| (*name, report.get("suite").and_then(Value::as_str).map(str::to_owned))).collect();
    let partial = shard_set(&labels, partial)?;
    // The order of an unsharded run: by file, then id.
    scenarios.sort_by(|a, b| {
        (a.get("file").and_then(Value::as_str), a.get("id").and_then(Value::as_str))
            .cmp(&(b.get("file").and_then(Value::as_str), b.get("id").and_then(Value::as_str)))
    });
    let rows: Vec<(String, Vec<String>, Status)> = scenarios
        .iter()
        .map(|s| {
            let status = s.get("status").cloned().and_then(|v| serde_json::from_value(v).ok()).unwrap_or(Status::Error);
            let covers = s.get("covers").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect();
            (s.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(), covers, status)
        })
        .collect();
    let summary = Summary::of_statuses(rows.iter().map(|(_, _, status)| *status));
    let coverage = coverage_of(&requirements, rows.iter().map(|(id, covers, status)| (id.as_str(), covers.as_slice(), *status)));
    let mut merged = first.clone();
    if let Some(object) = merged.as_object_mut() {
        object.insert("summary".into(), serde_json::to_value(summary).map_err(|e| MergeError(e.to_string()))?);
        object.insert("scenarios".into(), Value::Array(scenarios));
        object.insert("coverage".into(), serde_json::to_value(coverage).map_err(|e| MergeError(e.to_string()))?);
        if let Some(suite) = suite_of(&first) {
            object.insert("suite".into(), Value::from(suite));
        }
        object.insert("merged_from".into(), Value::from(reports.iter().map(|(name, _)| *name).collect::<Vec<_>>()));
        match &partial {
            Some(words) => object.insert("partial".into(), Value::from(words.clone())),
            None => object.remove("partial"),
        };
        // A median of medians is no median: one shard's wait stands as it is; several are listed
        // per shard (the whole run's figures need every tap, which reports do not keep).
        let waits: Vec<(&str, &Value)> = reports.iter().filter_map(|(name, report)| report.get("patients_wait").map(|wait| (*name, wait))).collect();
        object.remove("patients_wait");
        object.remove("patients_wait_by_shard");
        match waits.as_slice() {
            [] => {}
            [(_, wait)] => {
                object.insert("patients_wait".into(), (*wait).clone());
            }
            several => {
                let listed = several.iter().map(|(name, wait)| serde_json::json!({ "report": name, "patients_wait": wait })).collect();
                object.insert("patients_wait_by_shard".into(), Value::Array(listed));
            }
        }
        if let Some(certification) = merge_certification(&certifications, &summary, partial.as_deref())? {
            object.insert("certification".into(), serde_json::to_value(certification).map_err(|e| MergeError(e.to_string()))?);
        }
    }
    let text = serde_json::to_string_pretty(&merged).map_err(|e| MergeError(e.to_string()))? + "\n";
    Ok(Merged { text, summary })
}

fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "nothing".into(), Value::to_string)
}

/// The verdict of the whole suite from the shards' certifications (same reader, same suite).
fn merge_certification(
    certifications: &[(&str, Option<CertificationInfo>)],
    summary: &Summary,
    partial: Option<&str>,
) -> Result<Option<CertificationInfo>, MergeError> {
    let Some((first_name, Some(first))) = certifications.first().cloned() else {
        if let Some((name, _)) = certifications.iter().find(|(_, c)| c.is_some()) {
            return Err(MergeError(format!("{name} is a certification report and {} is not", certifications.first().map_or("", |c| c.0))));
        }
        return Ok(None);
    };
    let mut flags = BTreeSet::new();
    for (name, certification) in certifications {
        let Some(certification) = certification else {
            return Err(MergeError(format!("{first_name} is a certification report and {name} is not")));
        };
        if (certification.reader.as_str(), certification.fingerprint.as_str(), &certification.statement)
            != (first.reader.as_str(), first.fingerprint.as_str(), &first.statement)
        {
            return Err(MergeError(format!("{name} and {first_name} certify different readers, suites or statements")));
        }
        flags.extend(certification.flags.iter().cloned());
    }
    let paths = first.statement.as_ref().map(|s| s.paths.clone());
    let (verdict, mut verdict_text) = super::grade_text(summary, paths.as_deref());
    // Each shard drew its own lives: the merged run played them all.
    let mut conditions = first.conditions.clone();
    if let crate::report::Lives::Added { count } = &mut conditions.lives {
        *count = certifications
            .iter()
            .filter_map(|(_, c)| match c.as_ref().map(|c| c.conditions.lives) {
                Some(crate::report::Lives::Added { count }) => Some(count),
                _ => None,
            })
            .sum();
    }
    verdict_text.push_str(&conditions.words().0);
    if let Some(words) = partial {
        verdict_text = format!("{verdict_text}; {words}");
    }
    Ok(Some(CertificationInfo { verdict, verdict_text, flags: flags.into_iter().collect(), partial: partial.map(str::to_owned), conditions, ..first }))
}

fn merge_junit(inputs: &[Input<'_>], partial: bool) -> Result<Merged, MergeError> {
    let mut cases: Vec<(String, String)> = Vec::new();
    let mut seen: HashMap<String, &str> = HashMap::new();
    let mut properties = String::new();
    let mut names = BTreeSet::new();
    let mut labels = Vec::new();
    let (mut failed, mut errors, mut skipped) = (0, 0, 0);
    for input in inputs {
        let document = roxmltree::Document::parse(input.text).map_err(|e| MergeError(format!("{}: not JUnit XML: {e}", input.name)))?;
        let root = document.root_element();
        if !root.has_tag_name("testsuites") {
            return Err(MergeError(format!("{}: not a JUnit report (no <testsuites>)", input.name)));
        }
        let suite =
            root.descendants().find(|node| node.has_tag_name("property") && node.attribute("name") == Some("suite")).and_then(|node| node.attribute("value"));
        labels.push((input.name, suite.map(str::to_owned)));
        names.insert(root.attribute("name").unwrap_or("mynatap").to_owned());
        for node in root.descendants() {
            if node.has_tag_name("properties") && properties.is_empty() {
                properties = input.text.get(node.range()).unwrap_or_default().to_owned();
            }
            if !node.has_tag_name("testcase") {
                continue;
            }
            let name = node.attribute("name").unwrap_or_default().to_owned();
            if let Some(other) = seen.insert(name.clone(), input.name) {
                return Err(MergeError(format!("scenario `{name}` is in both {other} and {}: shards must not overlap", input.name)));
            }
            let has = |tag: &str| node.children().any(|child| child.has_tag_name(tag));
            failed += usize::from(has("failure"));
            errors += usize::from(has("error"));
            skipped += usize::from(has("skipped"));
            cases.push((name, input.text.get(node.range()).unwrap_or_default().to_owned()));
        }
    }
    if names.len() > 1 {
        return Err(MergeError(format!("the reports are of different runs ({}): merge shards of one run", names.into_iter().collect::<Vec<_>>().join(" / "))));
    }
    let name = names.into_iter().next().unwrap_or_else(|| "mynatap".into());
    if let Some(words) = shard_set(&labels, partial)? {
        properties = properties.replace("</properties>", &format!("<property name=\"partial\" value=\"{}\"/></properties>", xml_escape(&words)));
    }
    let total = cases.len();
    let passed = total - failed - errors - skipped;
    let mut text = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    text.push_str(&format!("<testsuites name=\"{}\" tests=\"{total}\" failures=\"{failed}\" errors=\"{errors}\">\n", xml_escape(&name)));
    text.push_str(&format!("  <testsuite name=\"mynatap.conformance\" tests=\"{total}\" failures=\"{failed}\" errors=\"{errors}\" skipped=\"{skipped}\">\n"));
    if !properties.is_empty() {
        text.push_str(&format!("    {properties}\n"));
    }
    for (_, case) in &cases {
        text.push_str(&format!("    {case}\n"));
    }
    text.push_str("  </testsuite>\n</testsuites>\n");
    // Skipped cases are waived or not applicable: neither fails a run.
    let summary = Summary { total, passed, failed, errors, waived: 0, not_applicable: skipped };
    Ok(Merged { text, summary })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_report(ids: &[(&str, &str)], seed: u64) -> String {
        let scenarios: Vec<Value> = ids
            .iter()
            .map(|(id, status)| serde_json::json!({"id": id, "file": format!("scenarios/{id}.yaml"), "covers": ["FLOW-1"], "status": status}))
            .collect();
        serde_json::json!({"tool": "mynatap", "seed": seed, "transport": "memory", "suite": "scenarios/", "scenarios": scenarios, "coverage": [{"requirement": "FLOW-1", "scenarios": []}]}).to_string()
    }

    #[test]
    fn json_shards_merge_into_one_suite_in_file_order() {
        let a = json_report(&[("b", "passed")], 1);
        let b = json_report(&[("a", "failed"), ("c", "passed")], 1);
        let merged = merge(&[Input { name: "a.json", text: &a }, Input { name: "b.json", text: &b }], false).unwrap();
        assert_eq!(merged.summary, Summary { total: 3, passed: 2, failed: 1, ..Summary::default() });
        let value: Value = serde_json::from_str(&merged.text).unwrap();
        let ids: Vec<&str> = value["scenarios"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(value["coverage"][0]["scenarios"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn the_patients_wait_of_several_shards_is_listed_per_shard_never_taken_from_the_first() {
        let with_wait = |ids: &[(&str, &str)], median: f64| {
            let mut report: Value = serde_json::from_str(&json_report(ids, 1)).unwrap();
            report["patients_wait"] = serde_json::json!({"taps": 3, "presented_to_first_apdu_median_ms": median});
            report.to_string()
        };
        let (a, b, plain) = (with_wait(&[("a", "passed")], 1.5), with_wait(&[("b", "passed")], 9.0), json_report(&[("c", "passed")], 1));
        let merged = merge(&[Input { name: "a.json", text: &a }, Input { name: "b.json", text: &b }, Input { name: "c.json", text: &plain }], false).unwrap();
        let value: Value = serde_json::from_str(&merged.text).unwrap();
        assert!(value.get("patients_wait").is_none(), "{value}");
        let shards = value["patients_wait_by_shard"].as_array().unwrap();
        assert_eq!(shards.len(), 2);
        assert_eq!((shards[0]["report"].as_str(), shards[1]["patients_wait"]["presented_to_first_apdu_median_ms"].as_f64()), (Some("a.json"), Some(9.0)));
        // One shard with a wait: it stands as it is.
        let merged = merge(&[Input { name: "c.json", text: &plain }, Input { name: "b.json", text: &b }], false).unwrap();
        let value: Value = serde_json::from_str(&merged.text).unwrap();
        assert_eq!(value["patients_wait"]["presented_to_first_apdu_median_ms"].as_f64(), Some(9.0));
        assert!(value.get("patients_wait_by_shard").is_none());
    }

    #[test]
    fn overlapping_or_foreign_shards_are_refused() {
        let a = json_report(&[("a", "passed")], 1);
        let again = merge(&[Input { name: "a.json", text: &a }, Input { name: "b.json", text: &a }], false).unwrap_err();
        assert!(again.0.contains("scenario `a` is in both a.json and b.json"), "{again}");
        let other_seed = json_report(&[("b", "passed")], 2);
        assert!(merge(&[Input { name: "a.json", text: &a }, Input { name: "c.json", text: &other_seed }], false).unwrap_err().0.contains("differ in `seed`"));
        assert!(merge(&[Input { name: "a.json", text: &a }, Input { name: "x.xml", text: "<testsuites/>" }], false).unwrap_err().0.contains("one format"));
        assert!(merge(&[Input { name: "n.json", text: "{\"x\":1}" }], false).unwrap_err().0.contains("not a mynatap JSON report"));
    }

    #[test]
    fn an_incomplete_set_of_shards_is_merged_only_as_partial() {
        let shard =
            |k: usize, id: &str| json_report(&[(id, "passed")], 1).replace("\"suite\":\"scenarios/\"", &format!("\"suite\":\"scenarios/, shard {k}/3\""));
        let (one, two, three) = (shard(1, "a"), shard(2, "b"), shard(3, "c"));
        let refused = merge(&[Input { name: "1.json", text: &one }, Input { name: "3.json", text: &three }], false).unwrap_err();
        assert!(refused.0.contains("shard 2/3 missing") && refused.0.contains("--partial"), "{refused}");
        let merged = merge(&[Input { name: "1.json", text: &one }, Input { name: "3.json", text: &three }], true).unwrap();
        let value: Value = serde_json::from_str(&merged.text).unwrap();
        assert_eq!(value["partial"], "partial: shards 1/3, 3/3 of 3 merged (2/3 missing)");
        let whole =
            merge(&[Input { name: "1.json", text: &one }, Input { name: "2.json", text: &two }, Input { name: "3.json", text: &three }], false).unwrap();
        let value: Value = serde_json::from_str(&whole.text).unwrap();
        assert!(value.get("partial").is_none());
        assert_eq!(value["suite"], "scenarios/");
        let unsharded = json_report(&[("d", "passed")], 1);
        assert!(merge(&[Input { name: "1.json", text: &one }, Input { name: "u.json", text: &unsharded }], true).unwrap_err().0.contains("not a shard of 3"));
    }

    #[test]
    fn junit_shards_merge_with_their_counts() {
        let a = "<testsuites name=\"mynatap\"><testsuite><properties><property name=\"seed\" value=\"1\"/></properties><testcase name=\"a\"/><testcase name=\"b\"><failure message=\"x\">y</failure></testcase></testsuite></testsuites>";
        let b = "<testsuites name=\"mynatap\"><testsuite><testcase name=\"c\"><skipped message=\"not applicable: z\"/></testcase></testsuite></testsuites>";
        let merged = merge(&[Input { name: "a.xml", text: a }, Input { name: "b.xml", text: b }], false).unwrap();
        assert_eq!((merged.summary.total, merged.summary.failed, merged.summary.not_applicable), (3, 1, 1));
        let document = roxmltree::Document::parse(&merged.text).unwrap();
        assert_eq!(document.descendants().filter(|n| n.has_tag_name("testcase")).count(), 3);
        assert!(merged.text.contains("skipped=\"1\""));
    }
}
