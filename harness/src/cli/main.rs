//! `mynatap`: the command line. It parses arguments and calls the harness library.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use mynatap_harness::report::{self, Style, Summary};
use mynatap_harness::runner::{self, MemoryPlayer, TapPlayer};
use mynatap_harness::scenario::{self, RawScenario};
use mynatap_sim::credential::demo_card;
use mynatap_sim::pki::DEFAULT_SEED;
use mynatap_sim::profile::{DeviceKind, Profile};

mod capture;
mod serve;

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
        /// Scenario files or folders [default: scenarios/]
        paths: Vec<PathBuf>,
    },
    /// Run the scenarios and print the requirement matrix; exit 1 if a requirement has no scenario.
    Coverage {
        /// Scenario files or folders [default: scenarios/]
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
    /// (vpcd) and loopback HTTP, and judged on its verdict and on the wire (docs/certification.md).
    /// Exit 0: conformant; 1: not conformant; 2: input or set-up error. Needs the `pcsc` feature.
    Certify(CertifyArgs),
    /// Captures of real devices: import one as a scenario, replay one against a profile.
    #[command(subcommand)]
    Capture(capture::CaptureCommand),
    /// The built-in terminal as a reader program under the adapter contract (run by `certify`).
    ReferenceReader {
        /// Build in a deliberate defect (certification self-test): skip-expiry, skip-crl,
        /// ignore-hold, skip-signature, accept-any-ca, ignore-phone-support, ignore-os-choice,
        /// reuse-challenge, query-before-checks, verify-pin-on-iphone, retry-pin, crl-fail-open,
        /// accept-stale-crl, eligibility-fail-open, retry-after-removal.
        #[arg(long)]
        mutant: Option<String>,
    },
}

#[derive(clap::Args, Debug)]
struct CertifyArgs {
    /// The reader program, run once per tap with `sh -c 'exec …'` (quote it as one argument).
    #[arg(long, required_unless_present = "mutants")]
    reader_cmd: Option<String>,
    /// Certify every mutant of the reference reader and print the kill matrix; exit 1 if any
    /// mutant is certified conformant (a hole in the suite).
    #[arg(long, conflicts_with = "reader_cmd")]
    mutants: bool,
    #[command(flatten)]
    report: ReportArgs,
    /// Budget of one tap for the program (it is killed past it: an adapter_error).
    #[arg(long, default_value_t = 10_000)]
    tap_timeout_ms: u64,
}

#[derive(clap::Args, Debug)]
struct TapArgs {
    /// PC/SC reader name [default: the first reader holding a card]
    #[arg(long)]
    reader: Option<String>,
    /// The patient's FLOW-2 choice.
    #[arg(long, value_enum, default_value_t = ProfileName::Android)]
    os: ProfileName,
    /// The PIN typed on the terminal (card and Android).
    #[arg(long, default_value = "1234")]
    pin: String,
    /// Card only: face recognition instead of the PIN, with this verification number B (the
    /// 14 digits a camera reads off the card: birth date YYMMDD, expiry year, security code;
    /// the demo card's is 90051220300000). The face is taken to match.
    #[arg(long, value_name = "DIGITS")]
    surface: Option<String>,
    /// Trust the test CA of this seed (the served phone's).
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// How long to wait for each response.
    #[arg(long, default_value_t = 500)]
    timeout_ms: u64,
    /// The world's time for validity checks, RFC 3339 [default: now]
    #[arg(long)]
    now: Option<String>,
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
struct ReportArgs {
    /// Scenario files or folders [default: scenarios/]
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the report here instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Run only scenarios whose id contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Seed of every key, serial and challenge: the same seed gives the same bytes.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Write every APDU each device saw and answered to DIR/<scenario id>.jsonl (time, tap,
    /// command, response), for `mynatap capture import` and `capture replay`.
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
}

impl ReportArgs {
    /// The report in the chosen format (colour only for a terminal).
    fn render(&self, results: &[runner::ScenarioResult], transport: &str, requirements: &BTreeSet<String>) -> String {
        match self.format {
            Format::Text => report::text(results, self.seed, transport, Style { colour: self.output.is_none() && std::io::stdout().is_terminal() }),
            Format::Json => report::json(results, self.seed, transport, requirements),
            Format::Junit => report::junit(results, self.seed, transport),
        }
    }

    /// Writes `text` to `--output` (with a one-line summary on stderr) or to stdout, and the
    /// recordings to `--record`.
    fn emit(&self, text: &str, results: &[runner::ScenarioResult]) -> anyhow::Result<()> {
        if let Some(dir) = &self.record {
            let written = mynatap_harness::capture::record::write_results(dir, results).with_context(|| format!("--record: cannot write in {}", dir.display()))?;
            eprintln!("recorded the APDUs of {written} scenario(s) in {}", dir.display());
        }
        match &self.output {
            Some(path) => {
                std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
                let summary = Summary::of(results);
                eprintln!("{} scenarios: {} passed, {} failed, {} errors; report in {}", summary.total, summary.passed, summary.failed, summary.errors, path.display());
            }
            None => print!("{text}"),
        }
        Ok(())
    }

    fn suite(&self, requirements: &BTreeSet<String>) -> anyhow::Result<(Vec<PathBuf>, runner::Suite)> {
        let files = scenario_files(self.paths.clone())?;
        let suite = runner::load_suite(&files, requirements, self.filter.as_deref());
        if suite.entries.is_empty() {
            return Err(InputError(format!("no scenario id contains `{}`", self.filter.clone().unwrap_or_default())).into());
        }
        Ok((files, suite))
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
enum Format {
    Text,
    Json,
    Junit,
}

#[derive(clap::Args, Debug)]
pub(crate) struct CardArgs {
    #[arg(long, value_enum, default_value_t = ProfileName::Android)]
    profile: ProfileName,
    /// Load the profile from this YAML file instead (a vendor's device).
    #[arg(long)]
    profile_file: Option<PathBuf>,
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// The PIN the card or Android phone holds.
    #[arg(long, default_value = "1234")]
    pin: String,
    /// iPhone: Face ID / Touch ID done, the key is open.
    #[arg(long)]
    user_verified: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ProfileName {
    Android,
    Iphone,
    Card,
}

impl ProfileName {
    fn device(self) -> DeviceKind {
        match self {
            Self::Android => DeviceKind::Android,
            Self::Iphone => DeviceKind::Iphone,
            Self::Card => DeviceKind::Card,
        }
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
            eprintln!("mynatap: {error:#}");
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
            let schema = schemars::schema_for!(RawScenario);
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(0)
        }
        Command::Card(args) => card(args),
        Command::ServeCard(args) => serve::serve_card(args),
        Command::Tap(args) => tap(args),
        Command::Certify(args) => certify(args),
        Command::Capture(command) => capture::capture(command),
        Command::ReferenceReader { mutant } => reference_reader(mutant),
        Command::BenchTap(args) => mynatap_harness::bench_tap::run(args.transport == TransportName::Pcsc, args.taps, args.os.device())
            .map_err(|e| InputError(e).into())
            .map(|report| {
                print!("{report}");
                0
            }),
    }
}

fn requirements(path: Option<&PathBuf>) -> anyhow::Result<BTreeSet<String>> {
    let ids = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read requirements {}", path.display()))?;
            scenario::requirement_ids(&text)
        }
        None => scenario::requirement_ids(scenario::REQUIREMENTS_MD),
    };
    if ids.is_empty() {
        return Err(InputError("the requirements document lists no ids (lines like `- **FLOW-1** ...`)".into()).into());
    }
    Ok(ids)
}

fn scenario_files(paths: Vec<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
    let paths = if paths.is_empty() { vec![PathBuf::from("scenarios")] } else { paths };
    let files = runner::discover(&paths).map_err(InputError)?;
    if files.is_empty() {
        return Err(InputError(format!("no scenario files (*.yaml) in {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))).into());
    }
    Ok(files)
}

fn run(args: RunArgs) -> anyhow::Result<u8> {
    let requirements = requirements(args.requirements.as_ref())?;
    let (_, suite) = args.report.suite(&requirements)?;
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    if jobs == 0 {
        return Err(InputError("--jobs must be at least 1".into()).into());
    }
    let progress = (args.report.format == Format::Text && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(suite.entries.len() as u64);
        bar.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
        bar
    });
    let on_done = |result: &runner::ScenarioResult| {
        if let Some(bar) = &progress {
            bar.set_message(result.id.clone());
            bar.inc(1);
        }
    };
    let (results, transport) = match args.transport {
        TransportName::Memory => {
            let make_player = || -> Box<dyn TapPlayer> { Box::new(MemoryPlayer) };
            (runner::run_suite(&suite, args.report.seed, jobs, &make_player, &on_done), "memory")
        }
        TransportName::Pcsc => (run_pcsc(&suite, args.report.seed, jobs.min(2), &on_done)?, "pcsc"),
    };
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let text = args.report.render(&results, transport, &requirements);
    args.report.emit(&text, &results)?;
    Ok(Summary::of(&results).exit_code() as u8)
}

fn list(paths: Vec<PathBuf>) -> anyhow::Result<u8> {
    let requirements = requirements(None)?;
    let files = scenario_files(paths)?;
    let suite = runner::load_suite(&files, &requirements, None);
    let mut broken = false;
    for entry in &suite.entries {
        match entry {
            runner::Entry::Loaded(scenario) => println!("{}\t{}\t{}", scenario.id, scenario.title, scenario.covers.join(",")),
            runner::Entry::Broken(error) => {
                broken = true;
                eprintln!("{error}");
            }
        }
    }
    Ok(if broken { 2 } else { 0 })
}

fn coverage(paths: Vec<PathBuf>, requirements_path: Option<PathBuf>, seed: u64) -> anyhow::Result<u8> {
    let requirements = requirements(requirements_path.as_ref())?;
    let files = scenario_files(paths)?;
    let suite = runner::load_suite(&files, &requirements, None);
    let jobs = std::thread::available_parallelism().map_or(1, usize::from);
    let make_player = || -> Box<dyn TapPlayer> { Box::new(MemoryPlayer) };
    let results = runner::run_suite(&suite, seed, jobs, &make_player, &|_| {});
    for result in &results {
        if let Some(error) = &result.error {
            eprintln!("{error}");
        }
    }
    let rows = report::coverage(&requirements, &results);
    print!("{}", report::coverage_text(&rows, Style { colour: std::io::stdout().is_terminal() }));
    Ok(if rows.iter().any(|row| row.scenarios.is_empty()) { 1 } else { 0 })
}

fn card(args: CardArgs) -> anyhow::Result<u8> {
    let profile = load_profile(&args)?;
    let mut card = demo_card(profile, args.seed, &args.pin).context("cannot personalise the card")?;
    let stdin = std::io::stdin();
    mynatap_harness::card_pipe::serve(&mut card, args.user_verified, stdin.lock(), std::io::stdout().lock(), std::io::stderr().lock())?;
    Ok(0)
}

#[cfg(feature = "pcsc")]
fn run_pcsc(suite: &runner::Suite, seed: u64, jobs: usize, on_done: &(dyn Fn(&runner::ScenarioResult) + Sync)) -> anyhow::Result<Vec<runner::ScenarioResult>> {
    use mynatap_harness::pcsc_player::PcscPlayer;
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
    Ok(runner::run_suite(suite, seed, jobs, &make_player, on_done))
}

#[cfg(not(feature = "pcsc"))]
fn run_pcsc(_: &runner::Suite, _: u64, _: usize, _: &(dyn Fn(&runner::ScenarioResult) + Sync)) -> anyhow::Result<Vec<runner::ScenarioResult>> {
    Err(InputError(NO_PCSC.into()).into())
}

#[cfg(not(feature = "pcsc"))]
const NO_PCSC: &str = "this mynatap was built without PC/SC: build it with `cargo build --features pcsc` (needs libpcsclite-dev and pkgconf)";

pub(crate) fn load_profile(args: &CardArgs) -> anyhow::Result<Profile> {
    let profile = match &args.profile_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read profile {}", path.display()))?;
            Profile::from_yaml(&path.display().to_string(), &text).map_err(|e| InputError(e.to_string()))?
        }
        None => Profile::builtin(args.profile.device()),
    };
    let digits = usize::from(profile.auth_pin.digits);
    if args.pin.len() != digits || !args.pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InputError(format!("--pin: the {} profile's PIN has {digits} digits, got `{}`", profile.name, args.pin)).into());
    }
    Ok(profile)
}

#[cfg(feature = "pcsc")]
fn tap(args: TapArgs) -> anyhow::Result<u8> {
    use mynatap_sim::driver::run_tap;
    use mynatap_sim::pcsc_transport::PcscTransport;
    use mynatap_sim::terminal::{Consent, TapRequest, Terminal, TerminalConfig};
    let now = match &args.now {
        Some(text) => time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| InputError(format!("--now: expected RFC 3339 such as 2026-04-01T09:00:00+09:00, got `{text}`")))?,
        // The command line is the edge of the system: here, and only here, the wall clock is read.
        None => time::OffsetDateTime::now_utc(),
    };
    let backends = mynatap_harness::demo_backends::DemoBackends::new(args.seed, now)?;
    let mut terminal = Terminal::new(
        TerminalConfig { id: "tap".into(), smartphone: true, timeout_ms: args.timeout_ms, backend_timeout_ms: mynatap_sim::service::DEFAULT_BACKEND_TIMEOUT_MS },
        backends.ca_der(),
        args.seed ^ u64::try_from(now.unix_timestamp()).unwrap_or_default(),
    )?;
    let mut transport = PcscTransport::connect(args.reader.as_deref(), std::time::Duration::from_secs(2), std::time::Duration::from_millis(args.timeout_ms))
        .map_err(|e| InputError(format!("reader `{}`: {e}", args.reader.as_deref().unwrap_or("(the first with a card)"))))?;
    let atr = mynatap_sim::transport::Transport::atr(&mut transport).unwrap_or_default();
    eprintln!("reader: {}  ATR: {}", transport.reader(), hex::encode_upper(atr));
    let auth = match &args.surface {
        Some(surface) => mynatap_sim::terminal::CardAuth::Face { surface: surface.clone(), face_match: true },
        None => mynatap_sim::terminal::CardAuth::Pin,
    };
    let request = TapRequest { selected: args.os.device(), pin: args.pin.clone(), consent: Consent::default(), now, auth };
    let mut transcript = Vec::new();
    let outcome = run_tap(terminal.start_tap(request), &mut transport, &backends, Some(&mut transcript));
    for exchange in &transcript {
        eprintln!("{exchange}");
    }
    println!("{outcome}");
    Ok(if matches!(outcome, mynatap_sim::terminal::Outcome::Verified(_)) { 0 } else { 1 })
}

#[cfg(not(feature = "pcsc"))]
fn tap(_: TapArgs) -> anyhow::Result<u8> {
    Err(InputError(NO_PCSC.into()).into())
}

#[cfg(feature = "pcsc")]
fn certify_with(program: &str, suite: &runner::Suite, seed: u64, tap_timeout_ms: u64) -> anyhow::Result<Vec<runner::ScenarioResult>> {
    use mynatap_harness::certify::{AdapterPlayer, ReaderProgram};
    // The default CA until the first tap writes its world's own.
    let ca = mynatap_sim::pki::CertificateAuthority::trusted(seed, mynatap_sim::pki::KeyAlgorithm::Rsa2048)?;
    let program = ReaderProgram { command: program.to_owned(), tap_timeout: std::time::Duration::from_millis(tap_timeout_ms) };
    let player = std::sync::Mutex::new(Some(AdapterPlayer::start(35963, program, ca.certificate_der()).map_err(InputError)?));
    let make_player = || -> Box<dyn TapPlayer> {
        match player.lock().ok().and_then(|mut p| p.take()) {
            Some(player) => Box::new(player),
            None => Box::new(MemoryPlayer),
        }
    };
    Ok(runner::run_suite(suite, seed, 1, &make_player, &|result| {
        eprintln!("{} {}", if result.status == runner::Status::Passed { "pass" } else { "FAIL" }, result.id)
    }))
}

#[cfg(feature = "pcsc")]
fn certify(args: CertifyArgs) -> anyhow::Result<u8> {
    use mynatap_harness::certify::fingerprint;
    let requirements = requirements(None)?;
    let (files, suite) = args.report.suite(&requirements)?;
    let fingerprint = fingerprint(&files);
    let started = std::time::Instant::now();
    if args.mutants {
        if args.report.record.is_some() {
            return Err(InputError("--record goes with --reader-cmd, not --mutants (the matrix plays the suite once per mutant)".into()).into());
        }
        return kill_matrix(&suite, &args, &fingerprint, started);
    }
    let reader_cmd = args.reader_cmd.clone().unwrap_or_default();
    let results = certify_with(&reader_cmd, &suite, args.report.seed, args.tap_timeout_ms)?;
    let summary = Summary::of(&results);
    let conformant = summary.failed == 0 && summary.errors == 0;
    let transport = "pcsc (vpcd) + http, reader program";
    let mut text = args.report.render(&results, transport, &requirements);
    let verdict = if conformant { "conformant" } else { "not conformant" };
    match args.report.format {
        Format::Text => text.push_str(&format!("certification: {verdict}\nreader: {reader_cmd}\nfingerprint: sha256:{fingerprint} ({} scenario files and the 3 profiles)\nwall time: {:.1} s\n", files.len(), started.elapsed().as_secs_f64())),
        Format::Json => {
            let mut value: serde_json::Value = serde_json::from_str(&text)?;
            if let Some(object) = value.as_object_mut() {
                object.insert("certification".into(), serde_json::json!({ "verdict": verdict, "reader": reader_cmd, "fingerprint": format!("sha256:{fingerprint}") }));
            }
            text = serde_json::to_string_pretty(&value)? + "\n";
        }
        Format::Junit => text = text.replacen("<testsuites name=\"mynatap\"", &format!("<testsuites name=\"mynatap certification: {verdict} sha256:{fingerprint}\""), 1),
    }
    args.report.emit(&text, &results)?;
    Ok(if summary.errors > 0 { 2 } else if conformant { 0 } else { 1 })
}

/// Certifies every mutant of the reference reader; each must be caught.
#[cfg(feature = "pcsc")]
fn kill_matrix(suite: &runner::Suite, args: &CertifyArgs, fingerprint: &str, started: std::time::Instant) -> anyhow::Result<u8> {
    use mynatap_sim::terminal::Mutant;
    let exe = std::env::current_exe().context("cannot find this program to run its reference reader")?;
    let mut out = String::from("kill matrix: mutant -> scenarios (and wire rules) that caught it\n");
    let mut survivors = 0;
    for mutant in Mutant::ALL {
        let program = format!("{} reference-reader --mutant {}", exe.display(), mutant.name());
        let results = certify_with(&program, suite, args.report.seed, args.tap_timeout_ms)?;
        let caught: Vec<String> = results
            .iter()
            .filter(|result| result.status != runner::Status::Passed)
            .map(|result| {
                let rules = result.failure.as_ref().and_then(|f| f.actual.split_once("breaking rule ").map(|(_, rules)| format!(" [{rules}]"))).unwrap_or_default();
                format!("{}{rules}", result.id)
            })
            .collect();
        if caught.is_empty() {
            survivors += 1;
            out.push_str(&format!("{:<22} SURVIVED: certified conformant (a hole in the suite)\n", mutant.name()));
        } else {
            let shown: Vec<&str> = caught.iter().take(3).map(String::as_str).collect();
            let more = if caught.len() > 3 { format!(" (+{} more scenarios)", caught.len() - 3) } else { String::new() };
            out.push_str(&format!("{:<22} {}{more}\n", mutant.name(), shown.join(", ")));
        }
    }
    out.push_str(&format!(
        "{} mutants: {} killed, {survivors} survived; fingerprint sha256:{fingerprint}; wall time {:.1} s\n",
        Mutant::ALL.len(),
        Mutant::ALL.len() - survivors,
        started.elapsed().as_secs_f64()
    ));
    match &args.report.output {
        Some(path) => std::fs::write(path, &out).with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{out}"),
    }
    Ok(if survivors > 0 { 1 } else { 0 })
}

#[cfg(not(feature = "pcsc"))]
fn certify(_: CertifyArgs) -> anyhow::Result<u8> {
    Err(InputError(NO_PCSC.into()).into())
}

#[cfg(feature = "pcsc")]
fn reference_reader(mutant: Option<String>) -> anyhow::Result<u8> {
    let mutant = match mutant.as_deref() {
        Some(name) => Some(mynatap_sim::terminal::Mutant::parse(name).ok_or_else(|| InputError(format!("--mutant: unknown mutant `{name}`")))?),
        None => None,
    };
    match mynatap_harness::reference_reader::run(mutant) {
        Ok(verdict) => {
            println!("{}", verdict.to_line());
            Ok(0)
        }
        Err(error) => Err(InputError(error).into()),
    }
}

#[cfg(not(feature = "pcsc"))]
fn reference_reader(_: Option<String>) -> anyhow::Result<u8> {
    Err(InputError(NO_PCSC.into()).into())
}
