//! `mynatap`: the command line. It parses arguments and calls the harness library.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use mynatap_harness::play::{self, MemoryPlayer, TapPlayer};
use mynatap_harness::report::{self, Style, Summary};
use mynatap_harness::scenario;
use mynatap_sim::pki::DEFAULT_SEED;

#[macro_use]
mod console;
mod capture;
mod card;
mod certify;
#[cfg(feature = "pcsc")]
mod demo_backends;
mod explore;
mod serve;
mod suite;
mod tap;
mod world;

pub(crate) use card::{CardArgs, ProfileName, load_profile, personalise};
use tap::TapArgs;

#[derive(Parser, Debug)]
#[command(name = "mynatap", version, about = "Reader-protocol simulator and conformance harness for the My Number insurance card on a smartphone")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run scenarios and report. Exit 0: all passed; 1: some failed; 2: input or usage error.
    Run(RunArgs),
    /// List scenarios: id, title, covered requirements.
    List {
        /// Scenario files or folders [default: scenarios/ if there is one, else the built-in suite]
        paths: Vec<PathBuf>,
    },
    /// Run the scenarios and print the requirement matrix; exit 1 if a requirement has no scenario.
    Coverage {
        /// Scenario files or folders [default: scenarios/ if there is one, else the built-in suite]
        paths: Vec<PathBuf>,
        /// Requirements document [default: the docs/requirements.md built in]
        #[arg(long)]
        requirements: Option<PathBuf>,
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
    },
    /// Print the JSON Schema of the scenario format (for editors).
    Schema,
    /// A virtual card on stdin/stdout: hex command APDUs in, `<data> <SW1SW2>` out, one per line.
    /// A line `reset` re-powers the card (retry counters survive).
    Card(CardArgs),
    /// Serve a virtual card to pcscd through vsmartcard's vpcd, in the foreground, so any PC/SC
    /// program sees it in the reader `Virtual PCD 00 00`. Card state lives as long as this runs.
    ServeCard(serve::ServeCardArgs),
    /// Run one terminal flow (FLOW-1..5) over a PC/SC reader and print the verdict
    /// (needs the `pcsc` feature).
    Tap(TapArgs),
    /// Run N taps and print median, p90, p99 and maximum tap time and APDU round trip.
    BenchTap(BenchTapArgs),
    /// Certify a reader program: every tap of the scenarios is played against it through PC/SC
    /// (vpcd) and loopback HTTP, and judged on its verdict, on the wire, and on the evidence each
    /// verdict rests on (docs/certification.md).
    /// Graded: conformant, conformant with waivers, not conformant. Exit 0: conformant (with
    /// waivers or not); 1: not conformant, or a regression against --baseline; 2: input or
    /// set-up error. Needs the `pcsc` feature.
    Certify(Box<certify::CertifyArgs>),
    /// Explore: generate N lives (people, cards, phones of every key kind, CRLs of any size,
    /// faults, clocks at day, month and year edges), play them in memory on the built-in terminal
    /// and judge every step against the rules model; shrink the first disagreement to the
    /// smallest scenario file that still fails. Exit 0: no disagreement; 1: one (file written);
    /// 2: input error. `certify --explore N` plays the same lives against a reader program.
    Explore(explore::ExploreArgs),
    /// Captures of real devices: import one as a scenario, replay one against a profile.
    #[command(subcommand)]
    Capture(capture::CaptureCommand),
    /// Signed certification bundles: verify one offline.
    #[command(subcommand)]
    Bundle(suite::BundleCommand),
    /// Reports: merge the JSON or JUnit reports of `--shard K/N` runs into one.
    #[command(subcommand)]
    Report(suite::ReportCommand),
    /// The conformance suite built into this binary: export it to read or extend.
    #[command(subcommand)]
    Suite(suite::SuiteCommand),
    /// A scenario's world for outside verifiers: export its CA, device certificates and CRL.
    #[command(subcommand)]
    World(world::WorldCommand),
    /// The built-in terminal as a reader program under the adapter contract (run by `certify`).
    ReferenceReader {
        /// Build in a deliberate defect (certification self-test): skip-expiry, skip-crl,
        /// ignore-hold, skip-signature, accept-any-ca, ignore-phone-support, ignore-os-choice,
        /// reuse-challenge, query-before-checks, verify-pin-on-iphone, retry-pin, crl-fail-open,
        /// accept-stale-crl, eligibility-fail-open, retry-after-removal, ... (all 35:
        /// docs/certification.md, "Mutants"), shared-connect, drop-consent, shift-jis-name.
        #[arg(long)]
        mutant: Option<String>,
        /// Session mode (`certify --reader-session`): read a request line per tap on stdin,
        /// answer a verdict line on stdout, until stdin ends.
        #[arg(long)]
        session: bool,
    },
}

#[derive(clap::Args, Debug)]
struct BenchTapArgs {
    #[arg(long, value_enum, default_value_t = TransportName::Memory)]
    transport: TransportName,
    #[arg(long, default_value_t = 1000)]
    taps: usize,
    /// The phone tapped.
    #[arg(long, value_enum, default_value_t = ProfileName::Android)]
    os: ProfileName,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum TransportName {
    /// The direct in-memory transport.
    Memory,
    /// The phone served through vpcd, the terminal on PC/SC (needs pcscd and the `pcsc` feature).
    Pcsc,
}

/// What to run and how to report it: shared by `run` and `certify`.
#[derive(clap::Args, Debug)]
pub(crate) struct ReportArgs {
    /// Scenario files or folders [default: scenarios/ if there is one, else the suite built into
    /// this binary]
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the report here instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Run only scenarios whose id contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Seed of every key, serial and challenge and of the play order: the same seed gives the
    /// same bytes [default: `run` 1; `certify` a secret drawn from the operating system, written
    /// into the report and the bundle after the run; given to `certify`, the run is a replay and
    /// its verdict says so].
    #[arg(long)]
    seed: Option<u64>,
    /// Write every APDU each device saw and answered to DIR/<scenario id>.jsonl (time, tap,
    /// command, response), for `mynatap capture import` and `capture replay`.
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
    /// Play only the K-th of N shards of the suite (a stable split by scenario id: N jobs with
    /// 1/N..N/N play every scenario exactly once; merge their reports with `mynatap report merge`).
    #[arg(long, value_name = "K/N")]
    shard: Option<play::shard::Shard>,
}

/// The scenarios to play and where they came from.
pub(crate) struct LoadedSuite {
    /// Read by `certify` (the pcsc build) for its fingerprint.
    #[cfg_attr(not(feature = "pcsc"), allow(dead_code))]
    pub files: Vec<PathBuf>,
    pub suite: play::Suite,
    /// `scenarios/`, the paths given, or the built-in suite.
    pub label: String,
    /// Every scenario id of the suite, before any shard or filter (`certify` judges waivers by it).
    #[cfg_attr(not(feature = "pcsc"), allow(dead_code))]
    pub ids: BTreeSet<String>,
}

impl ReportArgs {
    /// `--seed`, or the default of commands that replay (`run`).
    pub(crate) fn seed_or_default(&self) -> u64 {
        self.seed.unwrap_or(DEFAULT_SEED)
    }

    /// The report in the chosen format (colour only for a terminal).
    pub(crate) fn render(&self, run: &report::Run<'_>, requirements: &BTreeSet<String>) -> String {
        render(self.format, run, requirements, self.output.is_none() && std::io::stdout().is_terminal())
    }

    /// Writes `text` to `--output` (with a one-line summary on stderr) or to stdout, and the
    /// recordings to `--record`.
    pub(crate) fn emit(&self, text: &str, results: &[play::ScenarioResult]) -> anyhow::Result<()> {
        if let Some(dir) = &self.record {
            let written =
                mynatap_harness::capture::record::write_results(dir, results).with_context(|| format!("--record: cannot write in {}", dir.display()))?;
            note!("recorded the APDUs of {written} scenario(s) in {}", dir.display());
        }
        match &self.output {
            Some(path) => {
                mynatap_harness::files::write_output(path, text.as_bytes()).map_err(|e| anyhow::anyhow!("cannot write {e}"))?;
                note!("{}; report in {}", Summary::of(results).line(), path.display());
            }
            None => out!("{text}"),
        }
        Ok(())
    }

    pub(crate) fn suite(&self, requirements: &BTreeSet<String>) -> anyhow::Result<LoadedSuite> {
        let (files, label) = suite_files(self.paths.clone())?;
        let whole = play::load_suite(&files, requirements, None);
        let ids = whole.entries.iter().filter_map(|entry| if let play::Entry::Loaded(s) = entry { Some(s.id.clone()) } else { None }).collect();
        let suite = match &self.filter {
            Some(_) => play::load_suite(&files, requirements, self.filter.as_deref()),
            None => whole,
        };
        if suite.entries.is_empty() {
            return Err(InputError(format!("no scenario id contains `{}`", self.filter.clone().unwrap_or_default())).into());
        }
        // A filtered run says so: its report speaks for the scenarios it played only.
        let label = match &self.filter {
            Some(filter) => format!("{label}, filter `{filter}`"),
            None => label,
        };
        let (suite, label) = match self.shard {
            Some(shard) => {
                let suite = shard.select(suite);
                note!("shard {shard}: {} scenario(s) of this suite", suite.entries.len());
                (suite, format!("{label}, shard {shard}"))
            }
            None => (suite, label),
        };
        Ok(LoadedSuite { files, suite, label, ids })
    }
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// Scenarios run in parallel [default: the number of cores]
    #[arg(long)]
    jobs: Option<usize>,
    /// Requirements document for the coverage part of reports [default: built in]
    #[arg(long)]
    requirements: Option<PathBuf>,
    /// `pcsc` serves each tapped device through vpcd and runs the terminal over pcscd (at most
    /// 2 jobs: the readers `Virtual PCD 00 00` and `00 01`).
    #[arg(long, value_enum, default_value_t = TransportName::Memory)]
    transport: TransportName,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub(crate) enum Format {
    Text,
    Json,
    Junit,
    /// One self-contained HTML page (verdict first, inline SVG, nothing fetched).
    Html,
}

pub(crate) fn render(format: Format, run: &report::Run<'_>, requirements: &BTreeSet<String>, colour: bool) -> String {
    match format {
        Format::Text => report::text(run, requirements, Style { colour }),
        Format::Json => report::json(run, requirements),
        Format::Junit => report::junit(run),
        Format::Html => report::html(run, requirements),
    }
}

/// A usage or input problem: exit 2.
#[derive(Debug)]
pub(crate) struct InputError(pub(crate) String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for InputError {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            note!("mynatap: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Run(args) => run(args),
        Command::List { paths } => list(paths),
        Command::Coverage { paths, requirements, seed } => coverage(paths, requirements, seed),
        Command::Schema => {
            let schema = scenario::schema::scenario_schema();
            outln!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(0)
        }
        Command::Card(args) => card::card(args),
        Command::ServeCard(args) => serve::serve_card(args),
        Command::Tap(args) => tap::tap(args),
        Command::Certify(args) => certify::certify(*args),
        Command::Explore(args) => explore::explore(args),
        Command::Capture(command) => capture::capture(command),
        Command::Bundle(command) => suite::bundle(command),
        Command::Report(command) => suite::report(command),
        Command::Suite(command) => suite::suite(command),
        Command::World(command) => world::world(command),
        Command::ReferenceReader { mutant, session } => certify::reference_reader(mutant, session),
        Command::BenchTap(args) => mynatap_harness::play::bench_tap::run(args.transport == TransportName::Pcsc, args.taps, args.os.device())
            .map_err(|e| InputError(e).into())
            .map(|report| {
                out!("{report}");
                0
            }),
    }
}

pub(crate) fn requirements(path: Option<&PathBuf>) -> anyhow::Result<BTreeSet<String>> {
    let ids = match path {
        Some(path) => {
            let text = mynatap_harness::files::read_text(path, 4 * 1024 * 1024).map_err(|e| InputError(format!("cannot read requirements {e}")))?;
            scenario::requirement_ids(&text)
        }
        None => scenario::requirement_ids(scenario::REQUIREMENTS_MD),
    };
    if ids.is_empty() {
        return Err(InputError("the requirements document lists no ids (lines like `- **FLOW-1** ...`)".into()).into());
    }
    Ok(ids)
}

/// The scenario files of `paths`; with none, `scenarios/` when there is one, else the suite
/// built into this binary. Also says where they came from, for reports.
pub(crate) fn suite_files(paths: Vec<PathBuf>) -> anyhow::Result<(Vec<PathBuf>, String)> {
    if paths.is_empty() && !std::path::Path::new("scenarios").is_dir() {
        return Ok((scenario::builtin::paths(), scenario::builtin::label()));
    }
    let label = if paths.is_empty() { "scenarios/".to_owned() } else { paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ") };
    Ok((scenario_files(paths)?, label))
}

fn scenario_files(paths: Vec<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
    let paths = if paths.is_empty() { vec![PathBuf::from("scenarios")] } else { paths };
    let files = play::discover(&paths).map_err(|error| InputError(error.to_string()))?;
    if files.is_empty() {
        return Err(
            InputError(format!("no scenario files (*.yaml) in {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))).into()
        );
    }
    Ok(files)
}

fn run(args: RunArgs) -> anyhow::Result<u8> {
    let requirements = requirements(args.requirements.as_ref())?;
    let LoadedSuite { suite, label, .. } = args.report.suite(&requirements)?;
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    if jobs == 0 {
        return Err(InputError("--jobs must be at least 1".into()).into());
    }
    let progress = (args.report.format == Format::Text && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(suite.entries.len() as u64);
        bar.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
        bar
    });
    let on_done = |result: &play::ScenarioResult| {
        if let Some(bar) = &progress {
            bar.set_message(result.id.clone());
            bar.inc(1);
        }
    };
    let (results, transport) = match args.transport {
        TransportName::Memory => {
            let make_player = || -> Box<dyn TapPlayer> { Box::new(MemoryPlayer) };
            (play::run_suite(&suite, args.report.seed_or_default(), jobs, &make_player, &on_done), "memory")
        }
        TransportName::Pcsc => (run_pcsc(&suite, args.report.seed_or_default(), jobs.min(2), &on_done)?, "pcsc"),
    };
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let run = report::Run { results: &results, seed: args.report.seed_or_default(), transport, suite: &label, certification: None };
    let text = args.report.render(&run, &requirements);
    args.report.emit(&text, &results)?;
    Ok(Summary::of(&results).exit_code() as u8)
}

fn list(paths: Vec<PathBuf>) -> anyhow::Result<u8> {
    let requirements = requirements(None)?;
    let (files, _) = suite_files(paths)?;
    let suite = play::load_suite(&files, &requirements, None);
    let mut broken = false;
    for entry in &suite.entries {
        match entry {
            play::Entry::Loaded(scenario) => outln!("{}\t{}\t{}", scenario.id, scenario.title, scenario.covers.join(",")),
            play::Entry::Broken(error) => {
                broken = true;
                note!("{error}");
            }
        }
    }
    Ok(if broken { 2 } else { 0 })
}

fn coverage(paths: Vec<PathBuf>, requirements_path: Option<PathBuf>, seed: u64) -> anyhow::Result<u8> {
    let requirements = requirements(requirements_path.as_ref())?;
    let (files, _) = suite_files(paths)?;
    let suite = play::load_suite(&files, &requirements, None);
    let jobs = std::thread::available_parallelism().map_or(1, usize::from);
    let make_player = || -> Box<dyn TapPlayer> { Box::new(MemoryPlayer) };
    let results = play::run_suite(&suite, seed, jobs, &make_player, &|_| {});
    for result in &results {
        if let Some(error) = &result.error {
            note!("{error}");
        }
    }
    let rows = report::coverage(&requirements, &results);
    out!("{}", report::coverage_text(&rows, Style { colour: std::io::stdout().is_terminal() }));
    Ok(if rows.iter().any(|row| row.scenarios.is_empty()) { 1 } else { 0 })
}

#[cfg(feature = "pcsc")]
fn run_pcsc(suite: &play::Suite, seed: u64, jobs: usize, on_done: &(dyn Fn(&play::ScenarioResult) + Sync)) -> anyhow::Result<Vec<play::ScenarioResult>> {
    use mynatap_harness::play::pcsc::PcscPlayer;
    use std::sync::atomic::{AtomicU16, Ordering};
    // Start the bridges first, so a missing pcscd is one clear error, not one per scenario.
    let players: Vec<std::sync::Mutex<Option<PcscPlayer>>> =
        (0..jobs as u16).map(|i| PcscPlayer::start(35963 + i).map(|p| std::sync::Mutex::new(Some(p)))).collect::<Result<_, _>>().map_err(InputError)?;
    let next = AtomicU16::new(0);
    let make_player = || -> Box<dyn TapPlayer> {
        let index = usize::from(next.fetch_add(1, Ordering::Relaxed));
        match players.get(index).and_then(|slot| slot.lock().ok().and_then(|mut p| p.take())) {
            Some(player) => Box::new(player),
            None => Box::new(MemoryPlayer),
        }
    };
    Ok(play::run_suite(suite, seed, jobs, &make_player, on_done))
}

#[cfg(not(feature = "pcsc"))]
fn run_pcsc(_: &play::Suite, _: u64, _: usize, _: &(dyn Fn(&play::ScenarioResult) + Sync)) -> anyhow::Result<Vec<play::ScenarioResult>> {
    Err(InputError(NO_PCSC.into()).into())
}

#[cfg(not(feature = "pcsc"))]
pub(crate) const NO_PCSC: &str = "this mynatap was built without PC/SC: build it with `cargo build --features pcsc` (needs libpcsclite-dev and pkgconf)";
