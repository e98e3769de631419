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
}

#[derive(clap::Args, Debug)]
struct RunArgs {
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
    /// Scenarios run in parallel [default: the number of cores]
    #[arg(long)]
    jobs: Option<usize>,
    /// Requirements document for the coverage part of reports [default: built in]
    #[arg(long)]
    requirements: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
    Junit,
}

#[derive(clap::Args, Debug)]
struct CardArgs {
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
enum ProfileName {
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
struct InputError(String);

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
    let files = scenario_files(args.paths)?;
    let suite = runner::load_suite(&files, &requirements, args.filter.as_deref());
    if suite.entries.is_empty() {
        return Err(InputError(format!("no scenario id contains `{}`", args.filter.unwrap_or_default())).into());
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    if jobs == 0 {
        return Err(InputError("--jobs must be at least 1".into()).into());
    }
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let progress = (args.format == Format::Text && std::io::stderr().is_terminal()).then(|| {
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
    let make_player = || -> Box<dyn TapPlayer> { Box::new(MemoryPlayer) };
    let results = runner::run_suite(&suite, args.seed, jobs, &make_player, &on_done);
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let transport = "memory";
    let text = match args.format {
        Format::Text => report::text(&results, args.seed, transport, Style { colour: to_terminal }),
        Format::Json => report::json(&results, args.seed, transport, &requirements),
        Format::Junit => report::junit(&results, args.seed, transport),
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
            let summary = Summary::of(&results);
            eprintln!("{} scenarios: {} passed, {} failed, {} errors; report in {}", summary.total, summary.passed, summary.failed, summary.errors, path.display());
        }
        None => print!("{text}"),
    }
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
    let mut card = demo_card(profile, args.seed, &args.pin).context("cannot personalise the card")?;
    let stdin = std::io::stdin();
    mynatap_harness::card_pipe::serve(&mut card, args.user_verified, stdin.lock(), std::io::stdout().lock(), std::io::stderr().lock())?;
    Ok(0)
}
