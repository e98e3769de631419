//! Judging a bundle's evidence again, offline: each recorded scenario is played on a world built
//! from the recorded seed and profiles, with a player that answers every tap with the reader
//! program's recorded verdict and wire, and every raw step with its recorded APDU; the wire
//! rules run again; statement and waivers apply again. Any result that differs from
//! `results.json` names the evidence file.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::path::Path;
use std::sync::Arc;

use mynatap_sim::driver::{Exchange, Response};
use mynatap_sim::profile::Profile;
use mynatap_sim::transport::TransportError;
use mynatap_sim::world::{Profiles, TapReport, TapSpec, World, WorldError};
use serde_json::Value;

use super::{FORMAT_VERSION, INDEX, Index, REPORT, RESULTS, RawExchange, ScenarioEvidence, VerifyError, read_bounded, tampered};
use crate::certification::adapter::{Verdict, tapped_and_selected, typed_pin};
use crate::certification::judge::{TapContext, judge_evidence};
use crate::certification::statement::{Statement, judged_by, not_judged};
use crate::certification::verdict::{apply_waivers, certification_info, fingerprint_of};
use crate::certification::waivers;
use crate::play::evidence::TapEvidence;
use crate::play::{ScenarioResult, Status, TapPlayer, Violation, run_scenario};
use crate::report::grade_text;
use crate::report::{Conditions, Lives, Run, Summary};
use crate::scenario::{self, Expectation, Scenario};
use mynatap_sim::contract::Contract;

/// The statuses `results.json` records, by scenario id.
pub(crate) fn recorded_statuses(report: &Value) -> Result<BTreeMap<String, Status>, String> {
    let scenarios = report.get("scenarios").and_then(Value::as_array).ok_or("no `scenarios` list")?;
    scenarios
        .iter()
        .map(|scenario| {
            let id = scenario.get("id").and_then(Value::as_str).ok_or("a scenario without an id")?;
            let status: Status =
                scenario.get("status").cloned().and_then(|s| serde_json::from_value(s).ok()).ok_or_else(|| format!("`{id}`: no known status"))?;
            Ok((id.to_owned(), status))
        })
        .collect()
}

fn status_name(status: Status) -> String {
    serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn read_text(dir: &Path, file: &str) -> Result<String, VerifyError> {
    let bytes = read_bounded(dir, file).map_err(|e| tampered(file, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|_| tampered(file, "not UTF-8 text"))
}

fn profile(dir: &Path, file: &str) -> Result<Arc<Profile>, VerifyError> {
    let text = read_text(dir, file)?;
    Profile::from_yaml(file, &text).map(Arc::new).map_err(|e| tampered(file, e.to_string()))
}

/// Judges the bundle in `dir` again; returns the number of scenarios and the verdict.
pub fn rejudge(dir: &Path) -> Result<(usize, String), VerifyError> {
    let index: Index = serde_json::from_str(&read_text(dir, INDEX)?).map_err(|e| tampered(INDEX, format!("not a bundle index: {e}")))?;
    if index.mynatap_bundle != FORMAT_VERSION {
        return Err(VerifyError::Input(format!("{INDEX}: bundle format {} is not known; this mynatap reads format {FORMAT_VERSION}", index.mynatap_bundle)));
    }
    if index.tool_version != env!("CARGO_PKG_VERSION") {
        return Err(VerifyError::Input(format!(
            "{INDEX}: made by mynatap {}; this is {}: verify it with the version that made it (its reports are recomputed byte for byte)",
            index.tool_version,
            env!("CARGO_PKG_VERSION")
        )));
    }
    let Some(suite) = &index.suite else {
        return Err(VerifyError::Input(format!(
            "{INDEX}: no `suite` (a bundle from before suites were recorded): its fingerprint and completeness cannot be checked; certify again"
        )));
    };
    let results_bytes = read_bounded(dir, RESULTS).map_err(|e| tampered(RESULTS, format!("cannot read: {e}")))?;
    let results_json: Value = serde_json::from_slice(&results_bytes).map_err(|e| tampered(RESULTS, format!("not a JSON report: {e}")))?;
    let recorded = recorded_statuses(&results_json).map_err(|e| tampered(RESULTS, e))?;
    let recorded_verdict = results_json
        .pointer("/certification/verdict")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| tampered(RESULTS, "no certification verdict"))?;
    let profiles =
        Profiles { card: profile(dir, &index.profiles.card)?, android: profile(dir, &index.profiles.android)?, iphone: profile(dir, &index.profiles.iphone)? };
    let statement = match &index.statement {
        Some(file) => Some(Statement::parse(file, &read_text(dir, file)?).map_err(|e| tampered(file, e.to_string()))?),
        None => None,
    };
    let waivers = match &index.waivers {
        Some(file) => waivers::parse(file, &read_text(dir, file)?).map_err(|e| tampered(file, e.to_string()))?,
        None => Vec::new(),
    };
    let judged_on = time::Date::parse(&index.judged_on, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| tampered(INDEX, "judged_on is not a date"))?;
    let requirements = scenario::requirement_ids(scenario::REQUIREMENTS_MD);
    let contract = match &index.contract {
        Some(text) => Contract::parse(text).ok_or_else(|| tampered(INDEX, format!("contract `{text}` is not a known version")))?,
        None => Contract::LATEST,
    };

    // Card events are judged only in session mode (see `not_judged`).
    let session = results_json.pointer("/certification/conditions/session").and_then(Value::as_bool).unwrap_or(false);
    // Each scenario, loaded from the bundle, with its evidence.
    let mut loaded: Vec<(usize, Scenario, ScenarioEvidence)> = Vec::new();
    let mut results: Vec<Option<ScenarioResult>> = vec![None; index.scenarios.len()];
    for (position, entry) in index.scenarios.iter().enumerate() {
        let evidence: ScenarioEvidence =
            serde_json::from_str(&read_text(dir, &entry.evidence)?).map_err(|e| tampered(&entry.evidence, format!("not an evidence file: {e}")))?;
        let text = read_text(dir, &entry.file)?;
        // Parsed under the path it ran from, so results and messages read as they did.
        match scenario::parse(Path::new(&entry.original), &text, &requirements) {
            Ok(scenario) => {
                let mut scenario = scenario;
                let why = not_judged(&scenario, contract, statement.as_ref(), &profiles, session);
                if let Some(why) = why {
                    if let Some(slot) = results.get_mut(position) {
                        *slot = Some(ScenarioResult::not_applicable(&scenario, why));
                    }
                } else {
                    scenario.contract = judged_by(&scenario, contract);
                    loaded.push((position, scenario, evidence));
                }
            }
            Err(error) => {
                if let Some(slot) = results.get_mut(position) {
                    *slot = Some(ScenarioResult::broken(&error));
                }
            }
        }
    }
    // A reader's scenarios ran one after another and share one record of challenges (rule W2):
    // play them again in the order the reader saw them.
    let mut by_reader: BTreeMap<String, Vec<(u64, usize)>> = BTreeMap::new();
    for (at, (_, _, evidence)) in loaded.iter().enumerate() {
        let first = evidence.taps.first();
        let reader = first.map(|tap| tap.reader.clone()).unwrap_or_default();
        let sequence = first.and_then(|tap| tap.apdus.iter().map(|a| a.sequence).chain(tap.http.iter().map(|h| h.sequence)).min()).unwrap_or(0);
        by_reader.entry(reader).or_default().push((sequence, at));
    }
    for (_, mut order) in by_reader {
        order.sort_unstable();
        let mut player = RecordedPlayer::default();
        for (_, at) in order {
            let Some((position, scenario, evidence)) = loaded.get(at) else { continue };
            let file = &index.scenarios.get(*position).map(|e| e.evidence.clone()).unwrap_or_default();
            player.load(evidence);
            let mut result = run_scenario(scenario, index.seed, &profiles, &mut player);
            result.evidence.clone_from(&evidence.taps);
            // A scenario that fails stops at its first failing step; one that passes plays every tap.
            if !player.taps.is_empty() && result.status == Status::Passed {
                return Err(tampered(file, format!("holds {} tap(s) more than the scenario plays", player.taps.len())));
            }
            if let Some(slot) = results.get_mut(*position) {
                *slot = Some(result);
            }
        }
    }
    let mut results: Vec<ScenarioResult> = results.into_iter().flatten().collect();
    // The whole suite, from the bundle's copies: its ids (waivers naming none are flagged), its
    // fingerprint, and whether this bundle judged all of it.
    let mut suite_texts = Vec::new();
    let mut suite_ids = BTreeSet::new();
    for file in &suite.files {
        let text = read_text(dir, &file.file)?;
        if let Ok(scenario) = scenario::parse(Path::new(&file.original), &text, &requirements) {
            suite_ids.insert(scenario.id);
        }
        suite_texts.push((file.original.clone(), text));
    }
    let flags = apply_waivers(&mut results, &waivers, judged_on, &suite_ids);

    for (entry, result) in index.scenarios.iter().zip(&results) {
        match recorded.get(&result.id) {
            Some(status) if *status == result.status => {}
            Some(status) => {
                return Err(tampered(
                    &entry.evidence,
                    format!(
                        "judged again, scenario `{}` is {}, but {RESULTS} records {}: the evidence does not support the result",
                        result.id,
                        status_name(result.status),
                        status_name(*status)
                    ),
                ));
            }
            None => return Err(tampered(RESULTS, format!("has no result for scenario `{}`", result.id))),
        }
    }
    if recorded.len() != results.len() {
        return Err(tampered(RESULTS, format!("records {} scenarios; the bundle holds {}", recorded.len(), results.len())));
    }
    // How the run came about is the certifier's word, except what the evidence can show: the
    // generated lives are generated again from the seed, the exploration's counts are checked.
    let conditions: Conditions = match results_json.pointer("/certification/conditions") {
        Some(value) => serde_json::from_value(value.clone()).map_err(|e| tampered(RESULTS, format!("/certification/conditions: {e}")))?,
        None => return Err(tampered(RESULTS, "/certification/conditions: missing")),
    };
    // A generated life's file is named by the seed: the count the conditions state is checked
    // against the suite's files before the lives themselves are.
    let life_prefix = format!("explore-{}-", index.seed);
    let generated_files = suite_texts.iter().filter(|(original, _)| original.starts_with(&life_prefix)).count();
    let stated = match conditions.lives {
        Lives::Added { count } => count,
        Lives::FixedSuiteOnly => 0,
        Lives::Explored { .. } => generated_files,
    };
    if stated != generated_files {
        return Err(tampered(RESULTS, format!("/certification/conditions/lives: records {stated} generated lives, but the suite holds {generated_files}")));
    }
    let fixed = match (conditions.lives, &index.exploration) {
        (Lives::Explored { requested, played, out_of_time }, Some(exploration)) => {
            if (requested, played, out_of_time) != (exploration.lives_requested, exploration.lives, exploration.out_of_time) {
                return Err(tampered(
                    RESULTS,
                    format!(
                        "/certification/conditions/lives: records {requested} lives requested, {played} played{}, but {INDEX} records {}, {}{}",
                        if out_of_time { ", out of time" } else { "" },
                        exploration.lives_requested,
                        exploration.lives,
                        if exploration.out_of_time { ", out of time" } else { "" }
                    ),
                ));
            }
            super::exploration::check(exploration, index.seed, contract, &suite_texts, &results)?;
            suite_texts.len()
        }
        (Lives::Explored { .. }, None) | (_, Some(_)) => {
            return Err(tampered(RESULTS, "/certification/conditions/lives: does not say what bundle.json's exploration says"));
        }
        (Lives::Added { count }, None) => {
            let at = suite_texts.len().checked_sub(count).ok_or_else(|| {
                tampered(RESULTS, format!("/certification/conditions/lives: records {count} generated lives, but the suite holds {} files", suite_texts.len()))
            })?;
            let generated = crate::explore::generated_scenarios(index.seed, contract, count).map_err(|error| VerifyError::Input(error.to_string()))?;
            for ((original, text), (file, yaml, _)) in suite_texts.iter().skip(at).zip(&generated) {
                if *original != *file || text != yaml {
                    return Err(tampered(
                        original,
                        format!("is not {file} as mynatap generates it from seed {} (contract {contract}): the generated lives were changed", index.seed),
                    ));
                }
            }
            at
        }
        (Lives::FixedSuiteOnly, None) => suite_texts.len(),
    };
    if suite.label == crate::scenario::builtin::label() {
        let builtin: Vec<(String, String)> = crate::scenario::builtin::paths()
            .iter()
            .map(|path| (path.display().to_string(), crate::scenario::builtin::source_of(path).map(|t| t.into_owned()).unwrap_or_default()))
            .collect();
        if builtin.as_slice() != suite_texts.get(..fixed).unwrap_or_default() {
            return Err(tampered(INDEX, format!("names the suite `{}`, but its scenario files are not that suite's", suite.label)));
        }
    }
    let paths = statement.as_ref().map(|s| s.paths.iter().map(|p| p.name().to_owned()).collect::<Vec<_>>());
    let (verdict, _) = grade_text(&Summary::of(&results), paths.as_deref());
    if verdict.as_str() != recorded_verdict {
        return Err(tampered(RESULTS, format!("records the verdict `{recorded_verdict}`, but its results grade `{verdict}`")));
    }
    // Everything else the reports state, computed again: only the reader's command is the
    // certifier's word (nothing in the evidence can show it).
    let profile_texts = [&index.profiles.card, &index.profiles.android, &index.profiles.iphone].map(|file| read_text(dir, file));
    let [card, android, iphone] = profile_texts;
    // The fingerprint names the scenario files' suite; generated lives are new each run.
    let fingerprint = fingerprint_of(suite_texts.get(..fixed).unwrap_or_default(), [&card?, &android?, &iphone?]);
    let reader = results_json.pointer("/certification/reader").and_then(Value::as_str).unwrap_or_default();
    let info = certification_info(&results, statement.as_ref(), flags, reader, &fingerprint, judged_on, suite.files.len(), &conditions);
    let run = Run { results: &results, seed: index.seed, transport: crate::certification::TRANSPORT, suite: &suite.label, certification: Some(&info) };
    let json = crate::report::json(&run, &requirements);
    if json.as_bytes() != results_bytes.as_slice() {
        let again: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
        return Err(tampered(
            RESULTS,
            match first_difference(&results_json, &again, String::new()) {
                Some((at, recorded, computed)) => format!("{at}: records {recorded}, but the evidence gives {computed}"),
                None => "holds the values the evidence gives, but not as mynatap writes them: rewritten after the run".to_owned(),
            },
        ));
    }
    let html = crate::report::html(&run, &requirements);
    let recorded_html = read_bounded(dir, REPORT).map_err(|e| tampered(REPORT, format!("cannot read: {e}")))?;
    if html.as_bytes() != recorded_html.as_slice() {
        let at = html.bytes().zip(recorded_html.iter()).position(|(a, b)| a != *b).unwrap_or_else(|| html.len().min(recorded_html.len()));
        let excerpt = |bytes: &[u8]| String::from_utf8_lossy(bytes.get(at..(at + 60).min(bytes.len())).unwrap_or_default()).into_owned();
        return Err(tampered(
            REPORT,
            format!(
                "differs from the report the evidence gives from byte {at}: `{}` where it should read `{}`",
                excerpt(&recorded_html),
                excerpt(html.as_bytes())
            ),
        ));
    }
    Ok((results.len(), info.verdict_text))
}

/// The first place two JSON documents differ: (JSON pointer, the first's value, the second's),
/// values shortened for a message.
fn first_difference(recorded: &Value, computed: &Value, at: String) -> Option<(String, String, String)> {
    let short = |value: Option<&Value>| {
        let text = value.map_or_else(|| "nothing".to_owned(), Value::to_string);
        if text.chars().count() > 80 { format!("{}...", text.chars().take(80).collect::<String>()) } else { text }
    };
    match (recorded, computed) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|key| match (a.get(key), b.get(key)) {
                (Some(x), Some(y)) => first_difference(x, y, format!("{at}/{key}")),
                (x, y) => Some((format!("{at}/{key}"), short(x), short(y))),
            })
        }
        (Value::Array(a), Value::Array(b)) => {
            let found = a.iter().zip(b).enumerate().find_map(|(i, (x, y))| first_difference(x, y, format!("{at}/{i}")));
            found.or_else(|| (a.len() != b.len()).then(|| (format!("{at} (length)"), a.len().to_string(), b.len().to_string())))
        }
        (a, b) if a != b => Some((if at.is_empty() { "/".to_owned() } else { at }, short(Some(a)), short(Some(b)))),
        _ => None,
    }
}

/// Answers a scenario's taps and raw steps from the bundle's evidence.
#[derive(Debug, Default)]
struct RecordedPlayer {
    taps: VecDeque<TapEvidence>,
    raw: VecDeque<RawExchange>,
    challenges: HashSet<Vec<u8>>,
    violations: Vec<Violation>,
}

impl RecordedPlayer {
    fn load(&mut self, evidence: &ScenarioEvidence) {
        self.taps = evidence.taps.iter().cloned().collect();
        self.raw = evidence.raw.iter().cloned().collect();
    }
}

impl TapPlayer for RecordedPlayer {
    fn tap(&mut self, world: &mut World, spec: &TapSpec, expect: &Expectation) -> Result<TapReport, WorldError> {
        self.violations.clear();
        let (device, selected) = tapped_and_selected(world, spec)?;
        let (contract, cas) = (world.contract(), world.registry().cas().iter().map(|ca| ca.public_key()).collect::<Vec<_>>());
        let pin = typed_pin(world, spec, selected);
        let taps = &mut self.taps;
        let mut played = None;
        let report = world.tap_with(spec, |card, _tap, _backends, _timeout| {
            let Some(evidence) = taps.pop_front() else {
                return (Some(card), Err(WorldError::Adapter("the bundle has no record of this tap".into())));
            };
            let transcript = evidence
                .apdus
                .iter()
                .map(|apdu| Exchange {
                    command: apdu.command.clone(),
                    response: apdu.response.as_ref().map(|r| Response::from_bytes(&r.0)).ok_or(TransportError::CardRemoved),
                })
                .collect();
            let report = match (&evidence.verdict, &evidence.adapter_error) {
                (Some(line), _) => Verdict::parse(line)
                    .map(|verdict| TapReport { outcome: verdict.into_outcome(selected, spec.consent, contract), transcript, fault_fired: evidence.fault_fired })
                    .map_err(WorldError::Adapter),
                (None, Some(error)) => Err(WorldError::Adapter(error.clone())),
                (None, None) => Err(WorldError::Adapter("the record has neither a verdict nor an error".into())),
            };
            played = Some(evidence);
            (Some(card), report)
        });
        if let (Ok(played_report), Some(evidence)) = (&report, &played) {
            let tap = TapContext { device, spec, expect, contract, cas: &cas, pin: &pin };
            self.violations = judge_evidence(evidence, &tap, &played_report.outcome, &mut self.challenges);
        }
        report
    }

    fn take_violations(&mut self) -> Vec<Violation> {
        std::mem::take(&mut self.violations)
    }

    fn raw_apdu(&mut self, _world: &mut World, _device: &str, command: &[u8]) -> Result<Vec<u8>, WorldError> {
        let recorded = self.raw.pop_front().ok_or_else(|| WorldError::Adapter("the bundle has no record of this raw APDU".into()))?;
        if recorded.command != command {
            return Err(WorldError::Adapter(format!(
                "the bundle's raw step sent {}, the scenario sends {}",
                hex::encode_upper(&recorded.command),
                hex::encode_upper(command)
            )));
        }
        recorded.response.map(|r| r.0).ok_or(WorldError::Transport(TransportError::CardRemoved))
    }

    fn raw_reset(&mut self, _world: &mut World, _device: &str) -> Result<(), WorldError> {
        Ok(())
    }

    fn end_raw(&mut self, _world: &mut World) {}
}
