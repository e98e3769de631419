//! `certify` over the scenario suite (and the mutants' kill matrix), and `reference-reader`:
//! the players started on every virtual reader, the run, its grade, reports and bundle.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use mynatap_harness::certification::containment::Containment;
use mynatap_harness::certification::program::{AdapterPlayer, ReaderProgram, fingerprint};
use mynatap_harness::certification::statement::{Statement, judged_by, not_judged};
use mynatap_harness::certification::{bundle, verdict, waivers};
use mynatap_harness::play::readers::{VirtualReader, configured};
use mynatap_harness::play::{self, Entry, ScenarioResult, Status, Suite, TapPlayer};
use mynatap_harness::report::{self, Conditions, Lives, Summary};
use mynatap_sim::contract::Contract;
use mynatap_sim::terminal::Mutant;
use mynatap_sim::world::Profiles;

use super::CertifyArgs;
use crate::{Format, InputError, LoadedSuite, render, requirements};

/// Why a build without the mutants cannot run them.
const WITHOUT_MUTANTS: &str = "this mynatap was built without the `mutants` feature, so the reference reader has no deliberate defects to certify: build it with the default features (`cargo build -p mynatap-harness --features pcsc`)";

use mynatap_harness::certification::TRANSPORT;

/// The first `jobs` virtual readers configured.
pub(super) fn readers(jobs: usize) -> anyhow::Result<Vec<VirtualReader>> {
    let configured = configured();
    if jobs == 0 {
        return Err(InputError("--jobs must be at least 1".into()).into());
    }
    if jobs > configured.len() {
        return Err(InputError(format!(
            "--jobs {jobs}: only {} virtual reader(s) are configured ({}); add a vpcd entry to /etc/reader.conf.d (docs/certification.md) and restart pcscd",
            configured.len(),
            configured.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
        ))
        .into());
    }
    Ok(configured.into_iter().take(jobs).collect())
}

pub(super) fn start_players(readers: &[VirtualReader], program: &ReaderProgram) -> anyhow::Result<Vec<AdapterPlayer>> {
    readers.iter().map(|reader| AdapterPlayer::start(reader, program.clone()).map_err(|e| InputError(e).into())).collect()
}

/// The run's seed: `--seed`, or a secret drawn from the operating system that no reader
/// program can learn before the run is over (docs/certification.md, "An unpredictable run").
pub(super) fn run_seed(given: Option<u64>) -> anyhow::Result<u64> {
    match given {
        Some(seed) => Ok(seed),
        None => {
            let mut bytes = [0u8; 8];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut bytes))
                .map_err(|e| InputError(format!("cannot draw the run's secret seed from /dev/urandom: {e}")))?;
            Ok(u64::from_le_bytes(bytes))
        }
    }
}

/// What the reader programs run as, and the certified program's identifying files.
pub(super) fn program_conditions(args: &CertifyArgs, seed_given: bool, lives: Lives) -> anyhow::Result<(Containment, Conditions)> {
    let containment = Containment::choose(args.reader_user.as_deref()).map_err(InputError)?;
    if args.reader_user.is_some() && containment == Containment::OwnUser {
        note!("--reader-user is ignored: mynatap does not run as root, reader programs run as its own user");
    }
    let mut program = Vec::new();
    if let (command, _) = args.reader()
        && !command.is_empty()
    {
        program.extend(mynatap_harness::certification::program::command_executable(&command).map_err(InputError)?);
    }
    for path in &args.reader_files {
        program.push(mynatap_harness::certification::program::identify(path).map_err(|e| InputError(format!("--reader-file {e}")))?);
    }
    let conditions = Conditions {
        session: args.reader_session.is_some(),
        seed_given,
        lives,
        reader_user: containment.run_as().map(|run_as| run_as.name.clone()),
        containment_reduced: containment == Containment::Root,
        program,
    };
    Ok((containment, conditions))
}

/// Plays the suite against the program on every reader at once.
fn certify_with(players: Vec<AdapterPlayer>, suite: &Suite, seed: u64) -> Vec<ScenarioResult> {
    let jobs = players.len();
    let players = Mutex::new(players);
    let make_player = || -> Box<dyn TapPlayer> {
        match players.lock().ok().and_then(|mut players| players.pop()) {
            Some(player) => Box::new(player),
            None => Box::new(NoReader),
        }
    };
    play::run_suite_prebuilt(suite, seed, jobs, &make_player, &|result| note!("{} {}", progress_tag(result.status), result.id))
}

fn progress_tag(status: Status) -> &'static str {
    if status == Status::Passed { "pass" } else { "FAIL" }
}

/// A player lent to one suite run after another (the kill matrix: one mutant after another
/// on one reader; vpcd is not asked to connect a reader anew for each).
pub(super) struct Shared(pub(super) std::sync::Arc<Mutex<AdapterPlayer>>);

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared(AdapterPlayer)")
    }
}

impl TapPlayer for Shared {
    fn tap(
        &mut self,
        world: &mut mynatap_sim::world::World,
        spec: &mynatap_sim::world::TapSpec,
        expect: &mynatap_harness::scenario::Expectation,
    ) -> Result<mynatap_sim::world::TapReport, mynatap_sim::world::WorldError> {
        match self.0.lock() {
            Ok(mut player) => player.tap(world, spec, expect),
            Err(_) => Err(mynatap_sim::world::WorldError::Adapter("the reader's player failed in another thread".into())),
        }
    }
    fn take_violations(&mut self) -> Vec<mynatap_harness::play::Violation> {
        self.0.lock().map(|mut player| player.take_violations()).unwrap_or_default()
    }
    fn take_evidence(&mut self) -> Option<mynatap_harness::play::evidence::TapEvidence> {
        self.0.lock().ok().and_then(|mut player| player.take_evidence())
    }
}

/// Never used: one player per thread. Fails every tap rather than play anything else.
#[derive(Debug)]
struct NoReader;

impl TapPlayer for NoReader {
    fn tap(
        &mut self,
        _: &mut mynatap_sim::world::World,
        _: &mynatap_sim::world::TapSpec,
        _: &mynatap_harness::scenario::Expectation,
    ) -> Result<mynatap_sim::world::TapReport, mynatap_sim::world::WorldError> {
        Err(mynatap_sim::world::WorldError::Adapter("no virtual reader left for this job".into()))
    }
}

/// Splits the suite by the reader's contract version and statement: what to play (each
/// scenario judged by the older of its own and the reader's version), and the not-applicable
/// results by position.
fn apply_statement(suite: Suite, statement: Option<&Statement>, contract: Contract, session: bool) -> (Suite, Vec<(usize, ScenarioResult)>) {
    let profiles = Profiles::default();
    let (mut entries, mut outside) = (Vec::new(), Vec::new());
    for (position, entry) in suite.entries.into_iter().enumerate() {
        match entry {
            Entry::Loaded(mut scenario) => {
                let why = not_judged(&scenario, contract, statement, &profiles, session);
                match why {
                    Some(why) => outside.push((position, ScenarioResult::not_applicable(&scenario, why))),
                    None => {
                        scenario.contract = judged_by(&scenario, contract);
                        entries.push(Entry::Loaded(scenario));
                    }
                }
            }
            broken @ Entry::Broken(_) => entries.push(broken),
        }
    }
    (Suite { entries }, outside)
}

/// The reader's contract version: `--contract`, else the statement's, else the latest.
pub(super) fn reader_contract(flag: Option<&str>, statement: Option<&Statement>) -> Result<Contract, InputError> {
    let declared = statement.and_then(|statement| statement.contract);
    match flag {
        None => Ok(declared.unwrap_or(Contract::LATEST)),
        Some(text) => {
            let version = crate::explore::contract_flag(Some(text))?;
            match declared {
                Some(said) if said != version => {
                    Err(InputError(format!("--contract {version} disagrees with the statement's `contract: \"{said}\"`: give one")))
                }
                _ => Ok(version),
            }
        }
    }
}

/// The played results and the not-applicable ones, back in suite order.
fn in_suite_order(played: Vec<ScenarioResult>, outside: Vec<(usize, ScenarioResult)>) -> Vec<ScenarioResult> {
    let total = played.len() + outside.len();
    let mut outside = outside.into_iter().peekable();
    let mut played = played.into_iter();
    (0..total)
        .filter_map(|position| if outside.peek().is_some_and(|(at, _)| *at == position) { outside.next().map(|(_, r)| r) } else { played.next() })
        .collect()
}

/// `--today`, or the wall clock's date: the day waivers are judged on.
pub(super) fn judged_on(today: Option<&str>) -> Result<time::Date, InputError> {
    match today {
        Some(text) => time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| InputError(format!("--today: expected YYYY-MM-DD, got `{text}`"))),
        // The command line is the edge of the system: here the wall clock is read.
        None => Ok(time::OffsetDateTime::now_utc().date()),
    }
}

/// `--statement`: the statement, validated, and its text as given (for the bundle).
pub(super) fn read_statement(args: &CertifyArgs) -> anyhow::Result<(Option<Statement>, Option<String>)> {
    let Some(path) = &args.statement else { return Ok((None, None)) };
    let text = read_input(path, "statement")?;
    let statement = Statement::parse(&path.display().to_string(), &text).map_err(|e| InputError(e.to_string()))?;
    Ok((Some(statement), Some(text)))
}

pub(super) fn read_input(path: &std::path::Path, what: &str) -> anyhow::Result<String> {
    // Statements and waivers are small; the loaders check the exact bound.
    mynatap_harness::files::read_text(path, 1024 * 1024).map_err(|e| InputError(format!("--{what} {e}")).into())
}

pub(super) fn certify(args: CertifyArgs) -> anyhow::Result<u8> {
    let requirements = requirements(None)?;
    let loaded = args.report.suite(&requirements)?;
    let fingerprint = fingerprint(&loaded.files);
    let readers = readers(args.jobs)?;
    let started = Instant::now();
    mynatap_harness::certification::program::contain_reader_programs();
    if args.mutants && !mynatap_sim::terminal::MUTANTS_BUILT_IN {
        return Err(InputError(WITHOUT_MUTANTS.into()).into());
    }
    if args.mutants {
        if args.report.record.is_some() || args.bundle.is_some() || args.baseline.is_some() || args.statement.is_some() || args.waivers.is_some() {
            return Err(InputError("--mutants certifies the reference reader's mutants against the whole suite: --record, --bundle, --baseline, --statement and --waivers go with --reader-cmd".into()).into());
        }
        return kill_matrix(&loaded, &args, &readers, &fingerprint, started);
    }
    let (statement, statement_text) = read_statement(&args)?;
    let waivers_text = args.waivers.as_deref().map(|path| read_input(path, "waivers")).transpose()?;
    let waivers = match (&args.waivers, &waivers_text) {
        (Some(path), Some(text)) => waivers::parse(&path.display().to_string(), text).map_err(|e| InputError(e.to_string()))?,
        _ => Vec::new(),
    };
    let today = judged_on(args.today.as_deref())?;
    let signing_key = args.signing_key.as_deref().map(bundle::signing_key).transpose().map_err(InputError)?;
    if let Some(dir) = &args.bundle {
        bundle::ensure_empty(dir).map_err(InputError)?;
    }
    let (reader_cmd, session) = args.reader();
    let contract = reader_contract(args.contract.as_deref(), statement.as_ref())?;
    let seed = run_seed(args.report.seed)?;
    let lives = if args.fixed_suite_only { 0 } else { args.generated_lives };
    let (containment, conditions) =
        program_conditions(&args, args.report.seed.is_some(), if lives == 0 { Lives::FixedSuiteOnly } else { Lives::Added { count: lives } })?;
    let program = ReaderProgram {
        command: reader_cmd.clone(),
        tap_timeout: Duration::from_millis(args.tap_timeout_ms),
        pass_env: args.reader_env.clone(),
        contract,
        containment,
        session,
    };
    // The generated lives join the scenario files: played in the one order the seed draws.
    let generated = mynatap_harness::explore::generated_scenarios(seed, contract, lives).map_err(|error| InputError(error.to_string()))?;
    let mut suite = loaded.suite;
    let mut life_files = Vec::with_capacity(generated.len());
    for (file, text, scenario) in generated {
        suite.entries.push(Entry::Loaded(Box::new(scenario)));
        life_files.push((file, text));
    }
    let (suite, outside) = apply_statement(suite, statement.as_ref(), contract, session);
    let players = start_players(&readers, &program)?;
    let played = certify_with(players, &suite, seed);
    let mut results = in_suite_order(played, outside);
    let flags = verdict::apply_waivers(&mut results, &waivers, today, &loaded.ids);
    let info =
        verdict::certification_info(&results, statement.as_ref(), flags, &reader_cmd, &fingerprint, today, loaded.files.len() + life_files.len(), &conditions);
    let run = report::Run { results: &results, seed, transport: TRANSPORT, suite: &loaded.label, certification: Some(&info) };
    let text = args.report.render(&run, &requirements);
    args.report.emit(&text, &results)?;
    let summary = Summary::of(&results);
    let taps: Vec<_> = results.iter().flat_map(|r| r.evidence.iter()).collect();
    let program_ms: f64 = taps.iter().map(|t| t.program_ms).sum();
    let mut around: Vec<f64> = taps.iter().map(|t| t.tap_ms - t.program_ms).collect();
    around.sort_by(f64::total_cmp);
    note!(
        "{}; wall time {:.1} s on {} reader(s); {} taps: reader program {:.1} s in all; harness around a tap: median {:.1} ms",
        info.verdict_text,
        started.elapsed().as_secs_f64(),
        readers.len(),
        taps.len(),
        program_ms / 1000.0,
        around.get(around.len() / 2).copied().unwrap_or_default()
    );
    let stolen: Vec<u32> = taps.iter().flat_map(|tap| tap.strangers.iter()).filter_map(|request| request.stolen_by).collect();
    if !stolen.is_empty() {
        let mut pids: Vec<String> = stolen.iter().map(|pid| if *pid == 0 { "unknown".to_owned() } else { pid.to_string() }).collect();
        pids.sort();
        pids.dedup();
        note!(
            "{} request(s) came with a tap's token from another program than the reader (pid {}): the token was stolen; logged with the strangers' requests, never judged",
            stolen.len(),
            pids.join(", ")
        );
    }
    if summary.failed + summary.errors > 0 {
        note!("seed {seed}: `mynatap certify --seed {seed} {}` replays this run (its order and its generated lives)", args.reader_flag());
    }
    let mut code = verdict::exit_code(&summary);
    if let Some(baseline) = &args.baseline {
        let changes = bundle::compare_with_baseline(baseline, &results).map_err(InputError)?;
        let regressions = changes.iter().filter(|change| change.is_regression()).count();
        let name = |status: Option<Status>| {
            status.map_or_else(|| "absent".to_owned(), |s| serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default())
        };
        for change in &changes {
            note!("baseline: {} {} -> {}{}", change.id, name(change.before), name(change.after), if change.is_regression() { "  REGRESSION" } else { "" });
        }
        note!("baseline {}: {} scenario(s) changed, {regressions} regression(s)", baseline.display(), changes.len());
        if regressions > 0 && code == 0 {
            code = 1;
        }
    }
    if let (Some(dir), Some(key)) = (&args.bundle, &signing_key) {
        let mut suite_files: Vec<(String, String)> = loaded
            .files
            .iter()
            .map(|path| mynatap_harness::scenario::builtin::source_of(path).map(|text| (path.display().to_string(), text.into_owned())))
            .collect::<Result<_, _>>()
            .map_err(|e| InputError(format!("cannot read a scenario file for the bundle: {e}")))?;
        // The generated lives last: `bundle verify` generates them again from the seed.
        suite_files.extend(life_files);
        let input = bundle::BundleInput {
            results: &results,
            report_html: &render(Format::Html, &run, &requirements, false),
            results_json: &render(Format::Json, &run, &requirements, false),
            seed,
            suite_label: &loaded.label,
            suite_files: &suite_files,
            judged_on: today,
            contract,
            statement: statement_text.as_deref(),
            waivers: waivers_text.as_deref(),
            signing_key: key,
            exploration: None,
        };
        let files = bundle::write(dir, &input).map_err(InputError)?;
        note!("bundle: {files} files signed in {} (check with `mynatap bundle verify {} --public-key KEY.pub`)", dir.display(), dir.display());
    }
    Ok(code)
}

/// Certifies every mutant of the reference reader (each must be caught), `readers.len()` at
/// a time, each on its own reader.
fn kill_matrix(loaded: &LoadedSuite, args: &CertifyArgs, readers: &[VirtualReader], fingerprint: &str, started: Instant) -> anyhow::Result<u8> {
    let exe = std::env::current_exe().context("cannot find this program to run its reference reader")?;
    // A self-test of the suite, run in CI: a fixed seed unless one is given, so it repeats.
    let seed = args.report.seed_or_default();
    let containment = Containment::choose(args.reader_user.as_deref()).map_err(InputError)?;
    // In session mode, as a clinic's reader runs: the card-event defects show only there.
    let program_of = |mutant: Mutant| ReaderProgram {
        command: format!("{} reference-reader --session --mutant {}", exe.display(), mutant.name()),
        tap_timeout: Duration::from_millis(args.tap_timeout_ms),
        pass_env: args.reader_env.clone(),
        contract: mynatap_sim::contract::Contract::LATEST,
        containment: containment.clone(),
        session: true,
    };
    let players = start_players(readers, &program_of(Mutant::SkipExpiry))?;
    let next = AtomicUsize::new(0);
    let rows: Mutex<Vec<(usize, Vec<String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for player in players {
            let (next, rows, program_of) = (&next, &rows, &program_of);
            let player = std::sync::Arc::new(Mutex::new(player));
            scope.spawn(move || {
                while let Some(mutant) = Mutant::ALL.get(next.fetch_add(1, Ordering::Relaxed)).copied() {
                    if let Ok(mut player) = player.lock() {
                        player.begin_run(program_of(mutant));
                    }
                    let make_player = || -> Box<dyn TapPlayer> { Box::new(Shared(player.clone())) };
                    let caught: Vec<String> = play::run_suite_prebuilt(&loaded.suite, seed, 1, &make_player, &|_| {})
                        .into_iter()
                        .filter(|result| result.status != Status::Passed)
                        .map(|result| {
                            let rules = result
                                .failure
                                .as_ref()
                                .map(|f| report::broken_rules(&f.actual).join(", "))
                                .filter(|r| !r.is_empty())
                                .map(|r| format!(" [{r}]"))
                                .unwrap_or_default();
                            format!("{}{rules}", result.id)
                        })
                        .collect();
                    note!("{:<22} caught by {} scenario(s)", mutant.name(), caught.len());
                    let index = Mutant::ALL.iter().position(|m| *m == mutant).unwrap_or_default();
                    if let Ok(mut rows) = rows.lock() {
                        rows.push((index, caught));
                    }
                }
            });
        }
    });
    let mut rows = rows.into_inner().unwrap_or_default();
    rows.sort_by_key(|(index, _)| *index);
    let mut out = String::from("kill matrix: mutant -> scenarios (and wire or evidence rules) that caught it\n");
    let mut survivors = 0;
    for (index, caught) in &rows {
        let name = Mutant::ALL.get(*index).map_or("?", |m| m.name());
        if caught.is_empty() {
            survivors += 1;
            out.push_str(&format!("{name:<22} SURVIVED: certified conformant (a hole in the suite)\n"));
        } else {
            let shown: Vec<&str> = caught.iter().take(3).map(String::as_str).collect();
            let more = if caught.len() > 3 { format!(" (+{} more scenarios)", caught.len() - 3) } else { String::new() };
            out.push_str(&format!("{name:<22} {}{more}\n", shown.join(", ")));
        }
    }
    out.push_str(&format!(
        "{} mutants: {} killed, {survivors} survived; fingerprint sha256:{fingerprint}; {} reader(s); wall time {:.1} s\n",
        rows.len(),
        rows.len() - survivors,
        readers.len(),
        started.elapsed().as_secs_f64()
    ));
    match &args.report.output {
        Some(path) => mynatap_harness::files::write_output(path, out.as_bytes()).map_err(|e| anyhow::anyhow!("cannot write {e}"))?,
        None => out!("{out}"),
    }
    Ok(if survivors > 0 || rows.len() != Mutant::ALL.len() { 1 } else { 0 })
}

pub(crate) fn reference_reader(mutant: Option<String>, session: bool) -> anyhow::Result<u8> {
    if mutant.is_some() && !mynatap_sim::terminal::MUTANTS_BUILT_IN {
        return Err(InputError(WITHOUT_MUTANTS.into()).into());
    }
    let mutant = match mutant.as_deref() {
        Some(name) => Some(Mutant::parse(name).ok_or_else(|| InputError(format!("--mutant: unknown mutant `{name}`")))?),
        None => None,
    };
    if session {
        return mynatap_harness::certification::reference_reader::serve_session(mutant).map(|()| 0).map_err(|error| InputError(error).into());
    }
    match mynatap_harness::certification::reference_reader::run(mutant) {
        Ok(verdict) => {
            outln!("{}", verdict.to_line());
            Ok(0)
        }
        Err(error) => Err(InputError(error).into()),
    }
}
