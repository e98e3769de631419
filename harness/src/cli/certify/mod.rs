//! `mynatap certify` (a reader program against the suite, graded, reported, bundled) and
//! `mynatap reference-reader` (mynatap's own terminal as such a program, with its mutants).

use std::path::PathBuf;

use clap::Args;

#[cfg(not(feature = "pcsc"))]
use crate::InputError;
use crate::ReportArgs;

#[derive(Args, Debug)]
pub(crate) struct CertifyArgs {
    /// The reader program, run once per tap with `sh -c 'exec …'` (quote it as one argument).
    #[arg(long, required_unless_present_any = ["mutants", "reader_session"], conflicts_with = "reader_session")]
    reader_cmd: Option<String>,
    /// Session mode: the reader program, started once per virtual reader with `sh -c 'exec …'`,
    /// asked for each tap with one JSON line on its stdin, answering with one verdict line on its
    /// stdout (docs/certification.md, "Session mode").
    #[arg(long, value_name = "COMMAND")]
    reader_session: Option<String>,
    /// Certify every mutant of the reference reader and print the kill matrix; exit 1 if any
    /// mutant is certified conformant (a hole in the suite).
    #[arg(long, conflicts_with_all = ["reader_cmd", "reader_session"])]
    mutants: bool,
    #[command(flatten)]
    report: ReportArgs,
    /// Budget of one tap for the program (it is killed past it: an adapter_error).
    #[arg(long, default_value_t = 10_000)]
    tap_timeout_ms: u64,
    /// Hand this variable of mynatap's environment on to the reader program (repeatable). It
    /// gets nothing else but PATH, HOME, LANG and the contract's MYNATAP_* variables.
    #[arg(long = "reader-env", value_name = "NAME")]
    reader_env: Vec<String>,
    /// The reader's conformance statement (YAML, docs/certification.md): scenarios outside it
    /// are not applicable, never failures.
    #[arg(long, value_name = "FILE")]
    statement: Option<PathBuf>,
    /// The scenario contract version the reader was written for (`1.1`, `1.2`, `1.3`) [default: the
    /// statement's `contract`, else the latest]: scenarios using later features are not
    /// applicable, the rest are judged by that version's rules where versions differ.
    #[arg(long, value_name = "VERSION")]
    contract: Option<String>,
    /// Accepted failures (YAML: scenario, reason, expires): a failure a waiver holds for is
    /// `waived`; the verdict is then `conformant with waivers`.
    #[arg(long, value_name = "FILE")]
    waivers: Option<PathBuf>,
    /// The day waivers are judged on [default: today, UTC]
    #[arg(long, value_name = "YYYY-MM-DD")]
    today: Option<String>,
    /// Write a signed bundle into DIR (new or empty): reports, transcripts, scenarios, profiles,
    /// statement, waivers and a manifest of SHA-256 sums signed with --signing-key.
    #[arg(long, value_name = "DIR", requires = "signing_key")]
    bundle: Option<PathBuf>,
    /// The certifier's Ed25519 private key, PKCS#8 PEM (`openssl genpkey -algorithm ed25519`).
    #[arg(long, value_name = "FILE", requires = "bundle")]
    signing_key: Option<PathBuf>,
    /// An earlier bundle: list every scenario whose result changed; exit 1 on a regression.
    #[arg(long, value_name = "BUNDLE")]
    baseline: Option<PathBuf>,
    /// Virtual readers played at once (the vpcd readers configured in /etc/reader.conf.d: two
    /// per vpcd entry; docs/certification.md says how to add more).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Instead of the scenario files: generate N lives (`mynatap explore`), play each against the
    /// reader program and judge every step against the rules model, with the same wire and
    /// evidence rules; the first disagreement is shrunk, replaying each candidate against the
    /// program, to a scenario file `certify` replays. With --mutants: the kill matrix by
    /// exploration alone.
    #[arg(long, value_name = "N")]
    explore: Option<usize>,
    /// Generated lives a certification of scenario files plays among them, drawn from the run's
    /// secret seed (docs/certification.md, "An unpredictable run").
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LIVES, conflicts_with_all = ["explore", "fixed_suite_only"])]
    generated_lives: usize,
    /// Play the scenario files alone, without generated lives: the verdict says "fixed suite
    /// only" (a reader that looks verdicts up could pass such a run).
    #[arg(long, conflicts_with = "explore")]
    fixed_suite_only: bool,
    /// As root, run reader programs as this user, so they cannot read the harness's memory or
    /// environment [default: nobody]. `root` runs them as root: the verdict then says
    /// containment was reduced. Ignored unless mynatap runs as root.
    #[arg(long, value_name = "NAME")]
    reader_user: Option<String>,
    /// A file that identifies the certified program (a jar, a script, a library; repeatable):
    /// its SHA-256 is recorded in the report and the bundle, beside the command's executable's.
    #[arg(long = "reader-file", value_name = "PATH")]
    reader_files: Vec<PathBuf>,
    #[command(flatten)]
    explore_flags: crate::explore::ExploreFlags,
}

#[cfg_attr(not(feature = "pcsc"), allow(dead_code))]
impl CertifyArgs {
    /// The reader program's command, and whether it runs in session mode.
    fn reader(&self) -> (String, bool) {
        match (&self.reader_cmd, &self.reader_session) {
            (_, Some(session)) => (session.clone(), true),
            (command, None) => (command.clone().unwrap_or_default(), false),
        }
    }

    /// The flag that names the reader program, as a replay command writes it.
    fn reader_flag(&self) -> String {
        let (command, session) = self.reader();
        format!("{} '{}'", if session { "--reader-session" } else { "--reader-cmd" }, command.replace('\'', "'\\''"))
    }
}

/// Generated lives a default certification plays among the scenario files: about 100 taps, a
/// few seconds for a reader program that answers a tap in tens of milliseconds.
const DEFAULT_LIVES: usize = 32;

#[cfg(not(feature = "pcsc"))]
pub(crate) fn certify(_: CertifyArgs) -> anyhow::Result<u8> {
    Err(InputError(crate::NO_PCSC.into()).into())
}

#[cfg(not(feature = "pcsc"))]
pub(crate) fn reference_reader(_: Option<String>, _: bool) -> anyhow::Result<u8> {
    Err(InputError(crate::NO_PCSC.into()).into())
}

#[cfg(feature = "pcsc")]
pub(crate) use with_pcsc::reference_reader;

#[cfg(feature = "pcsc")]
mod by_exploration;

/// `certify`: the suite of scenario files, or (`--explore N`) generated lives.
#[cfg(feature = "pcsc")]
pub(crate) fn certify(args: CertifyArgs) -> anyhow::Result<u8> {
    if args.explore.is_some() {
        return by_exploration::certify(&args);
    }
    with_pcsc::certify(args)
}

#[cfg(feature = "pcsc")]
mod with_pcsc;
