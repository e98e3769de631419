//! The graded verdict of a certification (Autobahn's grades): the statement decides what is
//! applicable, waivers turn accepted failures into `waived`, and what is left grades the run
//! `conformant`, `conformant with waivers` or `not conformant`.

use std::collections::BTreeSet;

use time::Date;

use super::statement::Statement;
use super::waivers::Waiver;
use crate::play::{ScenarioResult, Status};
use crate::report::{CertificationInfo, Conditions, StatementInfo, Summary, grade_text};

/// Applies the waivers to the results (a failure a waiver holds for becomes `waived`) and
/// returns the flags: expired waivers, waivers of scenarios that pass, waivers naming no
/// scenario of `suite_ids` (the whole suite, before any shard or filter).
pub fn apply_waivers(results: &mut [ScenarioResult], waivers: &[Waiver], today: Date, suite_ids: &BTreeSet<String>) -> Vec<String> {
    let mut flags = Vec::new();
    for waiver in waivers {
        if !suite_ids.contains(&waiver.scenario) {
            flags.push(format!("`{}` names no scenario of the suite: remove it or fix the id", waiver.scenario));
            continue;
        }
        let holds = waiver.holds_on(today);
        if !holds {
            flags.push(format!("`{}` expired on {}: its failure counts again; renew it with a reason or fix the reader", waiver.scenario, waiver.expires));
        }
        let Some(result) = results.iter_mut().find(|result| result.id == waiver.scenario) else {
            // In another shard or filtered out: judged where it ran.
            continue;
        };
        match result.status {
            Status::Failed if holds => {
                result.status = Status::Waived;
                result.note = Some(format!("waived until {}: {}", waiver.expires, waiver.reason));
            }
            Status::Passed => flags.push(format!("`{}` is not needed: the scenario passes; remove the waiver", waiver.scenario)),
            _ => {}
        }
    }
    flags
}

/// SHA-256 over what a certification ran: each scenario file of the suite (its path as reports
/// show it, then its text) and the three profiles' texts, in order. `bundle verify` computes it
/// again from the bundle's copies.
pub fn fingerprint_of(files: &[(String, String)], profiles: [&str; 3]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for (path, text) in files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
    }
    for profile in profiles {
        hasher.update(profile.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The words a verdict gets when fewer scenarios were judged than the suite holds (`--filter`,
/// `--shard`): the result speaks for those only.
pub fn partial_words(judged: usize, suite: usize) -> Option<String> {
    (judged < suite).then(|| format!("partial: {judged} of the suite's {suite} scenarios judged"))
}

/// The certification part of a report. `suite_scenarios`: how many scenarios the whole suite
/// holds (before any filter or shard).
#[allow(clippy::too_many_arguments)]
pub fn certification_info(
    results: &[ScenarioResult],
    statement: Option<&Statement>,
    flags: Vec<String>,
    reader: &str,
    fingerprint: &str,
    today: Date,
    suite_scenarios: usize,
    conditions: &Conditions,
) -> CertificationInfo {
    let summary = Summary::of(results);
    let statement = statement.map(|statement| StatementInfo {
        reader_name: statement.reader_name.clone(),
        reader_version: statement.reader_version.clone(),
        paths: statement.paths.iter().map(|path| path.name().to_owned()).collect(),
        key_algorithms: statement.key_algorithms.iter().map(|algorithm| algorithm.name().to_owned()).collect(),
    });
    let (verdict, mut verdict_text) = grade_text(&summary, statement.as_ref().map(|s| s.paths.as_slice()));
    let (words, cut_short) = conditions.words();
    let partial = match (partial_words(results.len(), suite_scenarios), cut_short) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    };
    verdict_text.push_str(&words);
    if let Some(words) = &partial {
        verdict_text = format!("{verdict_text}; {words}");
    }
    CertificationInfo {
        verdict,
        verdict_text,
        reader: reader.to_owned(),
        fingerprint: format!("sha256:{fingerprint}"),
        judged_on: today.to_string(),
        statement,
        flags,
        partial,
        conditions: conditions.clone(),
    }
}

/// Exit code of a certification: 0 conformant (with waivers or not), 1 not conformant, 2 a
/// scenario file or world could not be used.
pub fn exit_code(summary: &Summary) -> u8 {
    if summary.errors > 0 {
        2
    } else if summary.failed > 0 {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn result(id: &str, status: Status) -> ScenarioResult {
        ScenarioResult {
            id: id.into(),
            contract: None,
            title: String::new(),
            file: String::new(),
            covers: Vec::new(),
            status,
            steps: Vec::new(),
            failure: None,
            error: None,
            note: None,
            evidence: Vec::new(),
            transcripts: Vec::new(),
        }
    }

    fn waiver(scenario: &str, expires: Date) -> Waiver {
        Waiver { scenario: scenario.into(), reason: "vendor ticket 7".into(), expires }
    }

    #[test]
    fn a_waiver_covers_a_failure_until_it_expires_and_is_flagged_when_idle() {
        let ids: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
        let mut results = vec![result("a", Status::Failed), result("b", Status::Failed), result("c", Status::Passed)];
        let waivers =
            [waiver("a", date!(2027 - 01 - 01)), waiver("b", date!(2026 - 01 - 01)), waiver("c", date!(2027 - 01 - 01)), waiver("zz", date!(2027 - 01 - 01))];
        let flags = apply_waivers(&mut results, &waivers, date!(2026 - 11 - 25), &ids);
        assert_eq!(results.iter().map(|r| r.status).collect::<Vec<_>>(), [Status::Waived, Status::Failed, Status::Passed]);
        assert!(results.first().unwrap().note.as_deref().unwrap().contains("vendor ticket 7"));
        assert_eq!(flags.len(), 3, "{flags:?}");
        assert!(flags.iter().any(|f| f.contains("`b` expired on 2026-01-01")));
        assert!(flags.iter().any(|f| f.contains("`c` is not needed")));
        assert!(flags.iter().any(|f| f.contains("`zz` names no scenario")));
    }
}
