//! `mynatap serve-card`: one virtual card served to pcscd through vpcd, optionally recorded.

use std::io::IsTerminal;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::Context;
use mynatap_drivers::vpcd::BridgeEvent;
use mynatap_harness::capture::record::{Line, Recorder};

use crate::CardArgs;

#[derive(clap::Args, Debug)]
pub(crate) struct ServeCardArgs {
    #[command(flatten)]
    card: CardArgs,
    /// iPhone: Face ID / Touch ID is done at start and keeps the key open this many seconds.
    #[arg(long)]
    user_verified_for: Option<u64>,
    /// Where vpcd listens (35963: `Virtual PCD 00 00`, 35964: `Virtual PCD 00 01`).
    #[arg(long, default_value = mynatap_drivers::vpcd::DEFAULT_ADDRESS)]
    vpcd: String,
    /// Retry with backoff when vpcd is not there yet or goes away, instead of exiting.
    #[arg(long)]
    reconnect: bool,
    /// Log every APDU (one line each) to stderr.
    #[arg(short, long)]
    verbose: bool,
    /// Append every APDU the card saw and answered to this file (JSONL: time, tap, command,
    /// response; a tap is one power-up), for `mynatap capture import` and `capture replay`.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
}

pub(crate) fn serve_card(args: ServeCardArgs) -> anyhow::Result<u8> {
    use mynatap_drivers::vpcd::{CardSlot, UserPresence};
    let level = if args.verbose { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)))
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let card = crate::personalise(&args.card)?;
    let presence = match (args.user_verified_for, args.card.user_verified) {
        (Some(seconds), _) => UserPresence::Until(std::time::Instant::now() + std::time::Duration::from_secs(seconds)),
        (None, true) => UserPresence::Yes,
        (None, false) => UserPresence::No,
    };
    let atr = card.atr().to_vec();
    let slot = CardSlot::new(None, presence, atr);
    slot.insert(card, presence);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let recorder = match &args.record {
        Some(path) => {
            // Appends to a log of earlier sessions, but never through a symlink planted at the name.
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(path)
                .with_context(|| format!("--record: cannot open {} (a symlink is not followed)", path.display()))?;
            note!("mynatap serve-card: recording every APDU to {}", path.display());
            Some(std::sync::Mutex::new(Recording { recorder: Recorder::new(std::io::BufWriter::new(file)), tap: 0, powered: true }))
        }
        None => None,
    };
    let log = move |event: BridgeEvent<'_>| {
        if let BridgeEvent::Apdu { command, response } = event {
            tracing::info!(command = %hex::encode_upper(command), response = %hex::encode_upper(response), "apdu");
        }
        if let Some(recording) = &recorder
            && let Ok(mut recording) = recording.lock()
            && let Err(error) = recording.see(event)
        {
            tracing::error!(%error, "cannot write the recording");
        }
    };
    note!("mynatap serve-card: connecting to vpcd at {} (reader {}); Ctrl-C stops", args.vpcd, reader_for(&args.vpcd));
    let result = runtime.block_on(async {
        tokio::select! {
            result = mynatap_drivers::vpcd::run(&args.vpcd, slot, args.reconnect, Some(&log)) => result.map_err(anyhow::Error::from),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    });
    result.map(|()| 0)
}

fn reader_for(address: &str) -> String {
    address.rsplit_once(':').and_then(|(_, port)| port.parse().ok()).map_or_else(|| "?".into(), mynatap_drivers::vpcd::reader_name)
}

/// The recording of a served card: a new tap at the first command after vpcd powered the card.
struct Recording<W: std::io::Write> {
    recorder: Recorder<W>,
    tap: u64,
    powered: bool,
}

impl<W: std::io::Write> Recording<W> {
    fn see(&mut self, event: BridgeEvent<'_>) -> std::io::Result<()> {
        match event {
            BridgeEvent::Power => {
                self.powered = true;
                Ok(())
            }
            BridgeEvent::Apdu { command, response } => {
                if std::mem::take(&mut self.powered) {
                    self.tap += 1;
                }
                // The command line is the edge of the system: the wall clock is read here.
                let time = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
                let response = (!response.is_empty()).then_some(response);
                self.recorder.write(&Line::new(time, self.tap.to_string(), command, response))
            }
        }
    }
}
