//! `mynatap tap`: mynatap's terminal over PC/SC against a card or phone in a real reader.

use mynatap_sim::pki::DEFAULT_SEED;

#[cfg(not(feature = "pcsc"))]
use crate::NO_PCSC;
#[cfg(feature = "pcsc")]
use crate::demo_backends;
use crate::{InputError, ProfileName};

#[derive(clap::Args, Debug)]
pub(crate) struct TapArgs {
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
    /// the birth date with the Japanese era year, as the card has it: the demo card, born
    /// 1990-05-12 (平成2), says 02051220300000). The face is taken to match.
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

#[cfg(feature = "pcsc")]
pub(crate) fn tap(args: TapArgs) -> anyhow::Result<u8> {
    use mynatap_drivers::pcsc_transport::PcscTransport;
    use mynatap_sim::driver::run_tap;
    use mynatap_sim::terminal::{Consent, TapRequest, Terminal, TerminalConfig};
    let now = match &args.now {
        Some(text) => time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| InputError(format!("--now: expected RFC 3339 such as 2026-04-01T09:00:00+09:00, got `{text}`")))?,
        // The command line is the edge of the system: here, and only here, the wall clock is read.
        None => time::OffsetDateTime::now_utc(),
    };
    let backends = demo_backends::DemoBackends::new(args.seed, now)?;
    let mut terminal = Terminal::new(
        TerminalConfig {
            id: "tap".into(),
            smartphone: true,
            timeout_ms: args.timeout_ms,
            backend_timeout_ms: mynatap_sim::service::DEFAULT_BACKEND_TIMEOUT_MS,
        },
        backends.ca_der(),
        args.seed ^ u64::try_from(now.unix_timestamp()).unwrap_or_default(),
    )?;
    let mut transport = PcscTransport::connect(args.reader.as_deref(), std::time::Duration::from_secs(2), std::time::Duration::from_millis(args.timeout_ms))
        .map_err(|e| InputError(format!("reader `{}`: {e}", args.reader.as_deref().unwrap_or("(the first with a card)"))))?;
    let atr = mynatap_sim::transport::Transport::atr(&mut transport).unwrap_or_default();
    note!("reader: {}  ATR: {}", transport.reader(), hex::encode_upper(atr));
    let auth = match &args.surface {
        Some(surface) => mynatap_sim::terminal::CardAuth::Face { surface: surface.clone(), face_match: true },
        None => mynatap_sim::terminal::CardAuth::Pin,
    };
    let request = TapRequest {
        selected: args.os.device(),
        pin: args.pin.clone(),
        consent: Consent::default(),
        now,
        auth,
        contract: mynatap_sim::contract::Contract::LATEST,
    };
    let mut transcript = Vec::new();
    let outcome = run_tap(terminal.start_tap(request), &mut transport, &backends, Some(&mut transcript));
    for exchange in &transcript {
        note!("{exchange}");
    }
    outln!("{outcome}");
    Ok(if matches!(outcome, mynatap_sim::terminal::Outcome::Verified(_)) { 0 } else { 1 })
}

#[cfg(not(feature = "pcsc"))]
pub(crate) fn tap(_: TapArgs) -> anyhow::Result<u8> {
    Err(InputError(NO_PCSC.into()).into())
}
