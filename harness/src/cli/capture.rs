//! `mynatap capture import | replay`: captures of real devices as scenarios and fidelity checks.

use std::path::PathBuf;

use clap::Subcommand;
use mynatap_harness::capture::{self, import, replay};
use mynatap_sim::credential::demo_card;
use mynatap_sim::pki::DEFAULT_SEED;

use crate::{CardArgs, InputError, ProfileName, load_profile};

#[derive(Subcommand, Debug)]
pub(crate) enum CaptureCommand {
    /// Turn a capture (pcsc-spy text, with or without colours, or a JSONL recording of
    /// `serve-card --record` / `certify --record`) into a scenario of raw APDU steps. Each step
    /// keeps the recorded status word, and data only where every device of the kind answers the
    /// same (docs/captures.md).
    Import {
        /// The capture file.
        file: PathBuf,
        /// The device kind [default: told by the token label the capture read]
        #[arg(long, value_enum)]
        profile: Option<ProfileName>,
        /// The device's PIN [default: the one the capture verified, else 1234]
        #[arg(long)]
        pin: Option<String>,
        /// The scenario id [default: capture-<file name>]
        #[arg(long)]
        id: Option<String>,
        /// Write the scenario here (the file name should be `<id>.yaml`) [default: stdout]
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Send the recorded commands to a profile's virtual device and print every answer that
    /// differs from the capture (status word, length, data that must match). Exit 0: none
    /// differs; 1: some do; 2: the capture cannot be read.
    Replay {
        /// The capture file.
        file: PathBuf,
        /// The profile whose device answers.
        #[arg(long, value_enum)]
        profile: ProfileName,
        /// Load the profile from this YAML file instead (a vendor's device).
        #[arg(long)]
        profile_file: Option<PathBuf>,
        /// The device's PIN [default: the one the capture verified, else 1234]
        #[arg(long)]
        pin: Option<String>,
        /// iPhone: Face ID / Touch ID was not done (by default the key is open, as for a capture
        /// of a tap).
        #[arg(long)]
        no_user_verified: bool,
        /// Seed of the virtual device's keys and certificates.
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
    },
}

pub(crate) fn capture(command: CaptureCommand) -> anyhow::Result<u8> {
    match command {
        CaptureCommand::Import { file, profile, pin, id, output } => {
            let capture = capture::read_file(&file).map_err(|e| InputError(e.to_string()))?;
            let options = import::Options { profile: profile.map(ProfileName::device), pin, id };
            let scenario = import::scenario(&capture, &options).map_err(|e| InputError(format!("{}: {e}", file.display())))?;
            for note in &capture.skipped {
                note!("mynatap capture import: left out: {note}");
            }
            match output {
                Some(path) => {
                    mynatap_harness::files::write_output(&path, scenario.as_bytes()).map_err(|e| anyhow::anyhow!("cannot write {e}"))?;
                    note!("{} command(s), {} reset(s) from {} -> {}", capture.exchanges(), capture.resets(), file.display(), path.display());
                }
                None => out!("{scenario}"),
            }
            Ok(0)
        }
        CaptureCommand::Replay { file, profile, profile_file, pin, no_user_verified, seed } => {
            let capture = capture::read_file(&file).map_err(|e| InputError(e.to_string()))?;
            let pin = pin.or(import::inspect(&capture.events).pin).unwrap_or_else(|| "1234".into());
            let args = CardArgs { profile, profile_file, seed, pin, user_verified: !no_user_verified, ..CardArgs::default_printed() };
            let profile = load_profile(&args)?;
            let name = profile.name.clone();
            let mut card = demo_card(profile, args.seed, &args.pin).map_err(|e| InputError(format!("--pin: {e}")))?;
            let result = replay::replay(&capture, &mut card, args.user_verified);
            if result.commands == 0 {
                let kinds: Vec<String> = result.other_devices.iter().map(|(kind, _)| kind.to_string()).collect();
                return Err(InputError(format!(
                    "{}: no command of the capture went to a {name} device (its token labels say {}): replay it with --profile {}",
                    file.display(),
                    kinds.join(", "),
                    kinds.first().map_or("android", String::as_str)
                ))
                .into());
            }
            for difference in &result.differences {
                outln!("DIFF {difference}");
            }
            for note in &capture.skipped {
                outln!("left out: {note}");
            }
            for (kind, commands) in &result.other_devices {
                outln!("left out: {commands} command(s) to a device whose token label says {kind} (replay them with --profile {kind})");
            }
            let verdict = if result.differences.is_empty() {
                "every answer meets the capture".to_owned()
            } else {
                format!("{} answer(s) differ from the capture", result.differences.len())
            };
            outln!("{}: {} command(s), {} reset(s) replayed on the {name} profile: {verdict}", file.display(), result.commands, result.resets);
            Ok(if result.differences.is_empty() { 0 } else { 1 })
        }
    }
}
