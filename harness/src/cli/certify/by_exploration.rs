//! `certify --explore N`: generated lives against a reader program (or, with `--mutants`, against
//! each mutant of the reference reader in turn), and the signed bundle of such a run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use mynatap_harness::certification::bundle::{self, ExplorationIndex, ShrunkIndex};
use mynatap_harness::certification::program::{AdapterPlayer, ReaderProgram};
use mynatap_harness::certification::{TRANSPORT, verdict};
use mynatap_harness::explore::{Exploration, GENERATED_COMMENT, Plan, life_id, life_tree};
use mynatap_harness::play::TapPlayer;
use mynatap_harness::report;
use mynatap_sim::terminal::Mutant;

use super::CertifyArgs;
use super::with_pcsc::{Shared, judged_on, program_conditions, read_statement, reader_contract, readers, run_seed, start_players};
use crate::{Format, InputError, render, requirements};
use mynatap_harness::report::{Conditions, Lives};

pub(super) fn certify(args: &CertifyArgs) -> anyhow::Result<u8> {
    let count = args.explore.unwrap_or_default();
    if !args.report.paths.is_empty() || args.report.filter.is_some() || args.report.shard.is_some() {
        return Err(
            InputError("--explore generates its own lives: scenario paths, --filter and --shard go with a certification of scenario files".into()).into()
        );
    }
    if args.baseline.is_some() || args.waivers.is_some() || args.report.record.is_some() {
        return Err(InputError("--explore records its result in its summary, the shrunk scenario file (--out) and --bundle; --baseline, --waivers and --record go with a certification of scenario files".into()).into());
    }
    if args.mutants && args.bundle.is_some() {
        return Err(InputError("--mutants --explore is the kill matrix of the reference reader: --bundle goes with --reader-cmd".into()).into());
    }
    // The statement only chooses the contract here: lives are generated for it.
    let (statement, _) = read_statement(args)?;
    let contract = reader_contract(args.contract.as_deref(), statement.as_ref())?;
    // The kill matrix is a self-test run in CI: a fixed seed unless one is given, so it repeats.
    let seed = if args.mutants { args.report.seed_or_default() } else { run_seed(args.report.seed)? };
    let mut plan = args.explore_flags.plan(count, seed, contract)?;
    plan.keep_results = args.bundle.is_some();
    plan.keypad_only = true;
    // Checked before the run, so a long exploration is not lost at its end.
    let signing_key = args.signing_key.as_deref().map(bundle::signing_key).transpose().map_err(InputError)?;
    if let Some(dir) = &args.bundle {
        bundle::ensure_empty(dir).map_err(InputError)?;
    }
    let today = judged_on(args.today.as_deref())?;
    let readers = readers(args.jobs)?;
    mynatap_harness::certification::program::contain_reader_programs();
    let (containment, conditions) = program_conditions(args, args.report.seed.is_some(), Lives::Explored { requested: count, played: 0, out_of_time: false })?;
    let program_for = |command: String| ReaderProgram {
        command,
        tap_timeout: Duration::from_millis(args.tap_timeout_ms),
        pass_env: args.reader_env.clone(),
        contract,
        containment: containment.clone(),
        session: false,
    };
    if args.mutants {
        return kill_matrix(args, &plan, &readers, &program_for);
    }
    let (reader_cmd, session) = args.reader();
    let players = start_players(&readers, &ReaderProgram { session, ..program_for(reader_cmd.clone()) })?;
    let players: Vec<Box<dyn TapPlayer + Send>> = players.into_iter().map(|p| Box::new(p) as Box<dyn TapPlayer + Send>).collect();
    let exploration = mynatap_harness::explore::explore(&plan, players, &crate::explore::progress_printer(plan.count));
    let replay = format!("mynatap certify --seed {} --contract {} {}", plan.seed, plan.contract, args.reader_flag());
    let (text, code) = crate::explore::report(&exploration, &args.explore_flags.out, &replay, "the reader program")?;
    let conditions =
        Conditions { lives: Lives::Explored { requested: plan.count, played: exploration.lives, out_of_time: exploration.out_of_time }, ..conditions };
    let verdict = if code == 0 { "conformant on exploration" } else { "NOT conformant on exploration" };
    let (words, partial) = conditions.words();
    let partial = partial.map(|words| format!("; {words}")).unwrap_or_default();
    outln!("{text}{verdict}{words}{partial}: seed {}, contract {}", plan.seed, plan.contract);
    if let (Some(dir), Some(key)) = (&args.bundle, &signing_key) {
        let files = write_bundle(dir, key, &exploration, &reader_cmd, today, &conditions)?;
        note!("bundle: {files} files signed in {} (check with `mynatap bundle verify {} --public-key KEY.pub`)", dir.display(), dir.display());
    }
    Ok(code)
}

/// The bundle of an exploration: every life played (its file, as generated again from the seed
/// by `bundle verify`, and its evidence), the reports over them, and the exploration's record
/// (counts, coverage, the shrunk failure's file and evidence).
fn write_bundle(
    dir: &std::path::Path,
    key: &ed25519_dalek::SigningKey,
    exploration: &Exploration,
    reader_cmd: &str,
    today: time::Date,
    conditions: &Conditions,
) -> anyhow::Result<usize> {
    let plan = &exploration.plan;
    let requirements = requirements(None)?;
    let mut suite_files = Vec::with_capacity(exploration.results.len());
    for index in 0..exploration.results.len() {
        let id = life_id(plan.seed, index);
        let life = plan.life_of(&life_tree(plan.seed, index, plan.contract).map_err(|error| InputError(error.to_string()))?);
        let text = mynatap_harness::scenario::life::file(&life, &id, GENERATED_COMMENT).map_err(|error| InputError(error.to_string()))?;
        suite_files.push((format!("{id}.yaml"), text));
    }
    let profiles = [mynatap_sim::profile::CARD_YAML, mynatap_sim::profile::ANDROID_YAML, mynatap_sim::profile::IPHONE_YAML];
    let fingerprint = verdict::fingerprint_of(&suite_files, profiles);
    let results = &exploration.results;
    let info = verdict::certification_info(results, None, Vec::new(), reader_cmd, &fingerprint, today, suite_files.len(), conditions);
    let label = bundle::exploration_label(exploration.lives, plan.seed, plan.contract);
    let run = report::Run { results, seed: plan.seed, transport: TRANSPORT, suite: &label, certification: Some(&info) };
    let record = ExplorationIndex {
        lives_requested: plan.count,
        lives: exploration.lives,
        keypad_only: plan.keypad_only,
        out_of_time: exploration.out_of_time,
        coverage: exploration.coverage.clone(),
        shrunk: exploration.failure.as_ref().map(|failure| ShrunkIndex {
            life: failure.index,
            file: String::new(),
            evidence: String::new(),
            steps: failure.shrunk.0,
            taps: failure.shrunk.1,
            original_steps: failure.original.0,
            original_taps: failure.original.1,
            candidates: failure.candidates,
        }),
    };
    let input = bundle::BundleInput {
        results,
        report_html: &render(Format::Html, &run, &requirements, false),
        results_json: &render(Format::Json, &run, &requirements, false),
        seed: plan.seed,
        suite_label: &label,
        suite_files: &suite_files,
        judged_on: today,
        contract: plan.contract,
        // The statement chose the contract; the lives were generated for it, not filtered by it.
        statement: None,
        waivers: None,
        signing_key: key,
        exploration: Some((record, exploration.failure.as_ref().map(|failure| (failure.yaml.as_str(), &failure.result)))),
    };
    Ok(bundle::write(dir, &input).map_err(InputError)?)
}

/// The kill matrix by exploration alone: one mutant after another, each on every reader.
fn kill_matrix(
    args: &CertifyArgs,
    plan: &Plan,
    readers: &[mynatap_harness::play::readers::VirtualReader],
    program_for: &dyn Fn(String) -> ReaderProgram,
) -> anyhow::Result<u8> {
    let exe = std::env::current_exe().context("cannot find this program to run its reference reader")?;
    let mut survivors = 0;
    let mut rows = String::from("kill matrix by exploration: mutant -> shrunk failure (steps, taps)\n");
    let command_of = |mutant: Mutant| format!("{} reference-reader --mutant {}", exe.display(), mutant.name());
    // One player per reader for the whole matrix, lent to each mutant's exploration in turn.
    let shared: Vec<Arc<Mutex<AdapterPlayer>>> =
        start_players(readers, &program_for(command_of(Mutant::SkipExpiry)))?.into_iter().map(|player| Arc::new(Mutex::new(player))).collect();
    for mutant in Mutant::ALL {
        let command = command_of(mutant);
        for player in &shared {
            if let Ok(mut player) = player.lock() {
                player.begin_run(program_for(command.clone()));
            }
        }
        let players: Vec<Box<dyn TapPlayer + Send>> = shared.iter().map(|player| Box::new(Shared(Arc::clone(player))) as Box<dyn TapPlayer + Send>).collect();
        let exploration = mynatap_harness::explore::explore(plan, players, &|_| {});
        let out = args.explore_flags.out.join(mutant.name());
        let replay = format!("mynatap certify --seed {} --contract {} --reader-cmd '{command}'", plan.seed, plan.contract);
        let (_, code) = crate::explore::report(&exploration, &out, &replay, "the mutant")?;
        let row = match &exploration.failure {
            Some(failure) if code == 1 => {
                let what = failure
                    .result
                    .failure
                    .as_ref()
                    .map(|f| format!("step {} {}: expected {}, got {}", f.step, f.action, f.expected, f.actual))
                    .unwrap_or_default();
                format!(
                    "{:<22} found in life {} after {} lives; shrunk to {} steps, {} taps ({}); {}\n",
                    mutant.name(),
                    failure.index,
                    exploration.lives,
                    failure.shrunk.0,
                    failure.shrunk.1,
                    out.join(format!("{}.yaml", failure.id)).display(),
                    what
                )
            }
            _ => {
                survivors += 1;
                format!("{:<22} SURVIVED {} lives of exploration\n", mutant.name(), exploration.lives)
            }
        };
        note!("{}", row.trim_end());
        rows.push_str(&row);
    }
    rows.push_str(&format!(
        "{} mutants: {} found by exploration, {survivors} survived; seed {}, {} lives each at most\n",
        Mutant::ALL.len(),
        Mutant::ALL.len() - survivors,
        plan.seed,
        plan.count
    ));
    out!("{rows}");
    Ok(if survivors > 0 { 1 } else { 0 })
}
