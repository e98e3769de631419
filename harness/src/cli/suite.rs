//! `mynatap bundle verify`, `mynatap report merge` and `mynatap suite export`: working with what
//! a run left behind, and with the suite built into the binary.

use std::path::PathBuf;

use clap::Subcommand;
use mynatap_harness::certification::bundle::{self, VerifyError};
use mynatap_harness::report::merge::{self, Input, MAX_REPORT_BYTES};
use mynatap_harness::scenario::builtin;

use crate::InputError;

#[derive(Subcommand, Debug)]
pub(crate) enum BundleCommand {
    /// Check a bundle offline: the manifest's Ed25519 signature, every SHA-256 sum, that nothing
    /// was added, and the results judged again from the recorded transcripts and scenarios.
    /// Exit 0: it verifies; 1: a file was changed (named); 2: the bundle or key cannot be read.
    Verify {
        /// The bundle folder (`certify --bundle DIR`).
        dir: PathBuf,
        /// The certifier's public key, SPKI PEM (`openssl pkey -in key.pem -pubout`).
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum ReportCommand {
    /// Merge the JSON (or the JUnit XML) reports of `--shard K/N` runs into one report of the
    /// whole suite. Exit 0: merged, every scenario passed (or was waived or not applicable);
    /// 1: merged, some failed; 2: the reports cannot be merged (overlap, other seed or suite).
    Merge {
        /// Reports of one format.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Write the merged report here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Merge an incomplete set of `--shard K/N` reports (refused otherwise); the merged report
        /// says which shards it holds.
        #[arg(long)]
        partial: bool,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum SuiteCommand {
    /// Write the built-in conformance suite into DIR (created if missing; a file that differs is
    /// never overwritten).
    Export { dir: PathBuf },
}

pub(crate) fn bundle(command: BundleCommand) -> anyhow::Result<u8> {
    let BundleCommand::Verify { dir, public_key } = command;
    let key = bundle::verifying_key(&public_key).map_err(InputError)?;
    match bundle::verify(&dir, &key) {
        Ok(verified) => {
            outln!(
                "bundle {}: verified: signature good, {} files unchanged, {} scenarios judged again from their transcripts: {}",
                dir.display(),
                verified.files,
                verified.scenarios,
                verified.verdict
            );
            Ok(0)
        }
        Err(VerifyError::Input(message)) => Err(InputError(message).into()),
        Err(VerifyError::Tampered { file, why }) => {
            outln!("bundle {}: DOES NOT VERIFY: {file}: {why}", dir.display());
            Ok(1)
        }
    }
}

pub(crate) fn report(command: ReportCommand) -> anyhow::Result<u8> {
    let ReportCommand::Merge { reports, output, partial } = command;
    let mut texts = Vec::new();
    for path in &reports {
        let text = mynatap_harness::files::read_text(path, MAX_REPORT_BYTES as u64).map_err(|e| InputError(e.to_string()))?;
        texts.push((path.display().to_string(), text));
    }
    let inputs: Vec<Input<'_>> = texts.iter().map(|(name, text)| Input { name, text }).collect();
    let merged = merge::merge(&inputs, partial).map_err(|e| InputError(e.0))?;
    match &output {
        Some(path) => {
            mynatap_harness::files::write_output(path, merged.text.as_bytes()).map_err(|e| anyhow::anyhow!("cannot write {e}"))?;
            note!("merged {} reports: {}; report in {}", reports.len(), merged.summary.line(), path.display());
        }
        None => out!("{}", merged.text),
    }
    Ok(merged.summary.exit_code() as u8)
}

pub(crate) fn suite(command: SuiteCommand) -> anyhow::Result<u8> {
    let SuiteCommand::Export { dir } = command;
    let written = builtin::export(&dir).map_err(|error| InputError(error.to_string()))?;
    note!("wrote the {} in {}", builtin::label(), dir.display());
    debug_assert_eq!(written, builtin::FILES.len());
    Ok(0)
}
