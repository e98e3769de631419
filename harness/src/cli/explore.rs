//! `mynatap explore` (generated lives against the built-in terminal, in memory) and the report
//! it shares with `certify --explore` (the same lives against a reader program).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use mynatap_harness::explore::{self, Exploration, Plan, Progress};
use mynatap_harness::play::{MemoryPlayer, TapPlayer};
use mynatap_sim::contract::Contract;
use mynatap_sim::pki::DEFAULT_SEED;

use crate::InputError;

/// What `explore` and `certify --explore` share on the command line.
#[derive(Args, Debug, Clone)]
pub(crate) struct ExploreFlags {
    /// Write the smallest failing life into DIR as `<id>.yaml` (created if missing).
    #[arg(long, value_name = "DIR", default_value = "mynatap-explore")]
    pub out: PathBuf,
    /// Stop starting new lives after this long (`90s`, `10m`, `1h`); the summary says so.
    #[arg(long, value_name = "TIME", value_parser = parse_budget)]
    pub budget: Option<Duration>,
    /// Most candidates proptest plays while shrinking a failure (each one is a whole life); each
    /// step left is then tried away once more (at most half as many again).
    #[arg(long, default_value_t = 400, value_name = "N")]
    pub shrink_limit: usize,
}

#[derive(Args, Debug)]
pub(crate) struct ExploreArgs {
    /// How many lives to generate and play.
    #[arg(short = 'n', long = "lives", default_value_t = 1000)]
    count: usize,
    /// Seed of the lives (and of every key, serial and challenge in them): the same seed gives the
    /// same lives.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    #[command(flatten)]
    flags: ExploreFlags,
    /// Generate only what this contract version defines (`1.0`, `1.1`, `1.2`) and judge by its
    /// rules [default: the latest].
    #[arg(long, value_name = "VERSION")]
    contract: Option<String>,
    /// Threads, each playing lives on its own world.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
}

/// `90s`, `10m`, `1h`, or plain seconds.
fn parse_budget(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.find(|c: char| !c.is_ascii_digit()).map_or((text, "s"), |at| text.split_at(at));
    let value: u64 = number.parse().map_err(|_| format!("expected a time such as 90s, 10m or 1h, got `{text}`"))?;
    let seconds = match unit {
        "s" => value,
        "m" => value.saturating_mul(60),
        "h" => value.saturating_mul(3600),
        _ => return Err(format!("unknown unit `{unit}` in `{text}`: use s, m or h")),
    };
    if seconds == 0 {
        return Err("a budget of zero explores nothing: give at least 1s".into());
    }
    Ok(Duration::from_secs(seconds))
}

/// `--contract`: a published version, or the latest.
pub(crate) fn contract_flag(text: Option<&str>) -> Result<Contract, InputError> {
    match text {
        None => Ok(Contract::LATEST),
        Some(text) => Contract::parse(text).ok_or_else(|| {
            let known: Vec<&str> = Contract::ALL.iter().map(|version| version.as_str()).collect();
            InputError(format!("--contract: unknown version `{text}` (expected one of {})", known.join(", ")))
        }),
    }
}

impl ExploreFlags {
    pub(crate) fn plan(&self, count: usize, seed: u64, contract: Contract) -> Result<Plan, InputError> {
        if count == 0 {
            return Err(InputError("-n/--lives: give at least 1 life to explore".into()));
        }
        Ok(Plan { count, seed, contract, budget: self.budget, shrink_limit: self.shrink_limit, keep_results: false, keypad_only: false })
    }
}

/// A progress line on standard error: rewritten in place on a terminal, a line every few
/// seconds otherwise (CI logs).
pub(crate) fn progress_printer(total: usize) -> impl Fn(Progress) + Sync {
    let terminal = std::io::stderr().is_terminal();
    let every = if terminal { Duration::from_millis(200) } else { Duration::from_secs(5) };
    let last = Mutex::new(Instant::now());
    move |progress| {
        let Ok(mut last) = last.lock() else { return };
        let shrinking = matches!(progress, Progress::Shrinking { .. });
        if last.elapsed() < every && !shrinking {
            return;
        }
        *last = Instant::now();
        let line = match progress {
            Progress::Exploring { lives, taps, elapsed } => {
                format!("explored {lives}/{total} lives, {taps} taps, {:.0} taps/s", taps as f64 / elapsed.as_secs_f64().max(1e-9))
            }
            Progress::Shrinking { candidate, steps, taps } => format!("shrinking: candidate {candidate} ({steps} steps, {taps} taps)"),
        };
        if terminal {
            note_inline(&line);
        } else {
            note!("{line}");
        }
    }
}

fn note_inline(line: &str) {
    crate::console::stderr(format_args!("\r{line:<78}"));
}

/// The summary for people, the failure's file written into `out`, and the exit code (0: no
/// disagreement; 1: one, written and shrunk). `replay` is the command that replays a file,
/// without the file.
pub(crate) fn report(exploration: &Exploration, out: &Path, replay: &str, judge: &str) -> Result<(String, u8), InputError> {
    if std::io::stderr().is_terminal() {
        note_inline("");
        crate::console::stderr(format_args!("\r"));
    }
    let plan = &exploration.plan;
    let mut text = format!(
        "explored {} of {} lives ({} steps, {} taps) in {:.1} s: {:.0} taps/s; seed {}, contract {}{}\n",
        exploration.lives,
        plan.count,
        exploration.coverage.steps,
        exploration.coverage.taps,
        exploration.elapsed.as_secs_f64(),
        exploration.rate(),
        plan.seed,
        plan.contract,
        if exploration.out_of_time { "; the time budget ran out" } else { "" }
    );
    text.push_str(&exploration.coverage.lines());
    let Some(failure) = &exploration.failure else {
        text.push_str(&format!("no disagreement: {judge} agreed with the rules model on every step\n"));
        return Ok((text, 0));
    };
    std::fs::create_dir_all(out).map_err(|e| InputError(format!("--out {}: {e}", out.display())))?;
    let file = out.join(format!("{}.yaml", failure.id));
    mynatap_harness::files::write_output(&file, failure.yaml.as_bytes()).map_err(|e| InputError(format!("cannot write {e}")))?;
    let what = match (&failure.result.failure, &failure.result.error) {
        (Some(step), _) => format!(
            "step {} ({}) expected {}, got {}{}",
            step.step,
            step.action,
            step.expected,
            step.actual,
            if step.detail.is_empty() { String::new() } else { format!(" ({})", step.detail) }
        ),
        (None, Some(error)) => format!("error: {error}"),
        (None, None) => "failed".to_owned(),
    };
    text.push_str(&format!(
        "DISAGREEMENT in life {} ({} steps, {} taps), shrunk over {} candidates to {} steps, {} taps:\n  {what}\n  written to {}\n  replay: {replay} {}\n",
        failure.index,
        failure.original.0,
        failure.original.1,
        failure.candidates,
        failure.shrunk.0,
        failure.shrunk.1,
        file.display(),
        file.display()
    ));
    Ok((text, 1))
}

pub(crate) fn explore(args: ExploreArgs) -> anyhow::Result<u8> {
    let contract = contract_flag(args.contract.as_deref())?;
    let plan = args.flags.plan(args.count, args.seed, contract)?;
    if args.jobs == 0 {
        return Err(InputError("--jobs must be at least 1".into()).into());
    }
    let players: Vec<Box<dyn TapPlayer + Send>> = (0..args.jobs).map(|_| Box::new(MemoryPlayer) as Box<dyn TapPlayer + Send>).collect();
    let exploration = explore::explore(&plan, players, &progress_printer(plan.count));
    let replay = format!("mynatap run --seed {}", plan.seed);
    let (text, code) = report(&exploration, &args.flags.out, &replay, "the built-in terminal")?;
    out!("{text}");
    Ok(code)
}
