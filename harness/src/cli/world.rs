//! `mynatap world export`: a scenario's world written out for outside verifiers.

use std::path::PathBuf;

use clap::Subcommand;
use mynatap_harness::play::{self, export};
use mynatap_sim::pki::DEFAULT_SEED;

use crate::InputError;

#[derive(Subcommand, Debug)]
pub(crate) enum WorldCommand {
    /// Write each scenario's world, as it stands before its first step, into OUT/<scenario id>/:
    /// the trusted CA's certificate (ca.der, ca.pem), the current CRL (crl.der, crl.pem), every
    /// device's user-authentication certificate (card-<person>, phone-<phone>; .der and .pem) and
    /// world.json (the world's time, the policy required, and for each device what the contract
    /// makes of its certificate). For `openssl verify`, Java's PKIX or your own validator
    /// (docs/certification.md, "Checking certificates with a standard validator").
    Export {
        /// Scenario files or folders (default: `scenarios/`, else the built-in suite).
        paths: Vec<PathBuf>,
        /// The folder to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Seed of every key and serial (the same as `run --seed`).
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
    },
}

pub(crate) fn world(command: WorldCommand) -> anyhow::Result<u8> {
    let WorldCommand::Export { paths, out, seed } = command;
    let requirements = crate::requirements(None)?;
    let (files, _) = crate::suite_files(paths)?;
    let suite = play::load_suite(&files, &requirements, None);
    let mut broken = false;
    for entry in &suite.entries {
        match entry {
            play::Entry::Loaded(scenario) => {
                let dir = export::folder_for(&out, scenario);
                let written = export::export_world(scenario, seed, &dir).map_err(|error| InputError(error.to_string()))?;
                note!("{}: {} device certificates, the CA and the CRL in {}", scenario.id, written.devices.len(), dir.display());
            }
            play::Entry::Broken(error) => {
                broken = true;
                note!("{error}");
            }
        }
    }
    Ok(if broken { 2 } else { 0 })
}
