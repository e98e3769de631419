//! `mynatap certify`: every tap of the suite is played against a reader program nobody here
//! wrote, through real PC/SC (the device served by vpcd) and the back ends over loopback HTTP,
//! and judged on its verdict and on the wire (docs/certification.md).

use std::collections::HashSet;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mynatap_drivers::vpcd::{Sequence, UserPresence};
use mynatap_sim::pki::card_verifiable::SurfaceAuthority;
use mynatap_sim::service::{BackendFault, CrlAnswerError, crl_answer};
use mynatap_sim::world::{TapReport, TapSpec, TapTarget, World, WorldError};

use super::adapter::{Verdict, consent_json, env, tapped_and_selected, typed_pin};
use super::card_moves;
use super::containment::{Containment, HandedFile, check_unchanged, private_dir, random_hex, write_fresh};
use super::holding::{HoldingWatch, holding_watch};
use super::http_backend::{BackendServer, BackendView};
use super::judge::{TapContext, judge_evidence};
use crate::play::evidence::{ApduSeen, HexBytes, TapEvidence};
use crate::play::pcsc::PcscPlayer;
use crate::play::{TapPlayer, Violation};
use crate::scenario::Expectation;
use mynatap_sim::contract::Contract;
use mynatap_sim::world::Arrival;

mod identity;
mod run;

pub use super::containment::contain_reader_programs;
pub use identity::{command_executable, fingerprint, identify};

/// How a reader program is run.
#[derive(Debug, Clone)]
pub struct ReaderProgram {
    /// Run with `sh -c 'exec …'`, so quoting works as in a shell.
    pub command: String,
    /// Budget of one tap: past it the program is killed and the tap is an adapter_error.
    pub tap_timeout: Duration,
    /// Names of the harness's environment variables handed on (`--reader-env`); besides them the
    /// program gets only `PATH`, `HOME`, `LANG` and the contract's `MYNATAP_*` variables.
    pub pass_env: Vec<String>,
    /// The contract version the reader declares: from 1.3 its back ends' URLs (and the tap's
    /// token in them) are in a file of its own, never in its environment.
    pub contract: Contract,
    /// Whom it runs as.
    pub containment: Containment,
    /// Session mode (`--reader-session`): started once per virtual reader, asked for each tap
    /// with a request line on its stdin (docs/certification.md, "Session mode").
    pub session: bool,
}

/// What a reader program inherits of the harness's environment besides `--reader-env`.
const INHERITED_ENV: [&str; 3] = ["PATH", "HOME", "LANG"];

/// Plays taps against a reader program.
#[derive(Debug)]
pub struct AdapterPlayer {
    player: PcscPlayer,
    server: BackendServer,
    sequence: Sequence,
    program: ReaderProgram,
    /// A private folder (mode 0700, created exclusively; 0750 to the reader user's group when
    /// run as root) for the files handed to the program, written fresh for every tap.
    dir: PathBuf,
    /// The card-surface CA's public key (the same for every tap).
    surface_ca: Vec<u8>,
    /// The running program's process group (0: none runs).
    leader: std::sync::Arc<std::sync::atomic::AtomicU32>,
    /// Session mode: the running session, started at the first tap and after a failed one.
    session: std::sync::Mutex<Option<super::session::Session>>,
    /// The last probed tap found the card held by a transaction (see `probe_this_tap`).
    held_by_transaction: bool,
    /// The tag of the last probe's command (each probed tap's is new: one held back by a
    /// transaction may land in the next tap).
    probe_tag: u8,
    /// The last tap's card lies in the field still (`stays`, contract 1.3).
    left_lying: bool,
    /// The bridge's connection count and the card's ATR when the card was last proven
    /// reachable through pcscd.
    ready_at: Option<(u64, Vec<u8>)>,
    challenges: HashSet<Vec<u8>>,
    violations: Vec<Violation>,
    evidence: Option<TapEvidence>,
}

impl AdapterPlayer {
    /// Starts a bridge on the reader's vpcd port and the HTTP back ends, and the private folder
    /// of the files handed to the program (each tap writes them anew).
    pub fn start(reader: &crate::play::readers::VirtualReader, program: ReaderProgram) -> Result<Self, String> {
        let player = PcscPlayer::start_reader(reader)?;
        let sequence = Sequence::default();
        let server = player.runtime().block_on(BackendServer::start(sequence.clone())).map_err(|e| format!("cannot serve the back ends: {e}"))?;
        server.judge_senders();
        let dir = private_dir(reader.port, program.containment.run_as())?;
        // The test card-surface CA's public key, in the card's encoding (MYNATAP_SURFACE_CA).
        let surface_ca = SurfaceAuthority::test().map_err(|e| format!("the test card-surface CA: {e}"))?.ca_public_encoded();
        Ok(Self {
            player,
            server,
            sequence,
            program,
            dir,
            surface_ca,
            leader: Default::default(),
            session: std::sync::Mutex::new(None),
            held_by_transaction: false,
            probe_tag: 0,
            left_lying: false,
            ready_at: None,
            challenges: HashSet::new(),
            violations: Vec::new(),
            evidence: None,
        })
    }

    /// Writes the tap's files afresh (see [`write_fresh`]): the trusted CA, every generation of
    /// it, the card-surface CA, and (contract 1.3) the back ends' URLs with the tap's token.
    fn hand_files(&self, world: &World, urls: Option<&str>) -> Result<Vec<HandedFile>, String> {
        let run_as = self.program.containment.run_as();
        let bundle: String = world.registry().cas().iter().map(|ca| crate::play::export::pem("CERTIFICATE", ca.certificate_der())).collect();
        let mut files = vec![
            write_fresh(env::CA_CERT, &self.dir.join("ca.der"), world.registry().ca().certificate_der(), run_as)?,
            write_fresh(env::CA_CERTS, &self.dir.join(CA_CERTS_FILE), bundle.as_bytes(), run_as)?,
            write_fresh(env::SURFACE_CA, &self.dir.join(SURFACE_CA_FILE), &self.surface_ca, run_as)?,
        ];
        if let Some(urls) = urls {
            files.push(write_fresh(env::URLS_FILE, &self.dir.join(URLS_FILE), urls.as_bytes(), run_as)?);
        }
        Ok(files)
    }

    /// Starts a new run with `program` (the kill matrix certifies one mutant after another on one
    /// reader): challenges seen so far are forgotten, rule W2 judges each run on its own.
    pub fn begin_run(&mut self, program: ReaderProgram) {
        self.program = program;
        *self.session.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        self.held_by_transaction = false;
        self.left_lying = false;
        self.challenges.clear();
    }

    /// Whether the bystander probe (rule W11) runs in this tap. Against a reader found holding the
    /// card by a transaction a probe waits for pcscd to let it through (up to 100 ms of its
    /// polling after the reader lets go): such a reader is probed on one tap in eight, drawn at
    /// random from the operating system (it cannot tell which). Every other reader on every tap
    /// (an exclusive connect refuses the probe at once, a shared one lets it in at once).
    fn probe_this_tap(&self) -> bool {
        if !self.held_by_transaction {
            return true;
        }
        let mut byte = [0u8; 1];
        std::fs::File::open("/dev/urandom").and_then(|mut file| file.read_exact(&mut byte)).map_or(true, |()| byte[0] < 32)
    }
}

/// The file name of the card-surface CA key inside the player's private folder.
const SURFACE_CA_FILE: &str = "surface-ca-public.bin";
/// Every trusted authority's certificate, PEM, oldest generation first (`MYNATAP_CA_CERTS`).
const CA_CERTS_FILE: &str = "ca-certs.pem";
/// The tap's back-end URLs, JSON (`MYNATAP_URLS_FILE`, contract 1.3).
const URLS_FILE: &str = "urls.json";

impl Drop for AdapterPlayer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TapPlayer for AdapterPlayer {
    fn tap(&mut self, world: &mut World, spec: &TapSpec, expect: &Expectation) -> Result<TapReport, WorldError> {
        self.violations.clear();
        self.evidence = None;
        let tap_started = Instant::now();
        let now = world.now();
        let config =
            world.terminal_config(spec.terminal.as_deref()).cloned().ok_or_else(|| WorldError::UnknownTerminal(spec.terminal.clone().unwrap_or_default()))?;
        // Each authority's distribution point (one unless the world has generations).
        let mut crls = Vec::with_capacity(world.registry().cas().len());
        for issuer in 0..world.registry().cas().len() {
            crls.push(match crl_answer(world.registry(), spec.backend_fault, now, issuer) {
                Ok(snapshot) => snapshot.der.to_vec(),
                Err(CrlAnswerError::Unavailable) => Vec::new(),
                Err(CrlAnswerError::Registry(error)) => return Err(error.into()),
            });
        }
        // A new secret each tap: only this tap's program knows its URLs (docs/certification.md).
        let token = random_hex::<16>().map_err(WorldError::Adapter)?;
        self.server.set_view(BackendView {
            crls,
            records: world.registry().eligibility_table(mynatap_sim::clock::local_date(now)),
            fault: spec.backend_fault,
            token,
        });
        let (device, selected) = tapped_and_selected(world, spec)?;
        let contract = world.contract();
        let cas: Vec<_> = world.registry().cas().iter().map(|ca| ca.public_key()).collect();
        let presence = if spec.user_verified { UserPresence::Yes } else { UserPresence::No };
        let pin = typed_pin(world, spec, selected);
        let surface = match (&spec.target, spec.face) {
            (TapTarget::Card(person), Some(_)) => world.printed_number_b(person).unwrap_or_default(),
            _ => String::new(),
        };
        let reader = self.player.reader().to_owned();
        let slot = self.player.slot.clone();
        let watcher = self.player.watch.clone();
        let sequence = self.sequence.clone();
        let crl_url = if spec.backend_fault == Some(BackendFault::CrlUnavailable) { self.server.refused_crl_url() } else { self.server.crl_url() };
        let eligibility_url = self.server.eligibility_url();
        // Each world has its CA (`world.ca_key` picks its algorithm): the program gets this one,
        // and every generation of it in one PEM file, oldest first (contract 1.3). A reader of
        // 1.3 finds its URLs (and the tap's token in them) in a file only it can read; a 1.2
        // reader in its environment, as that contract says.
        // A session's request line is its alone: the URLs go in it.
        let urls_off_env = !self.program.session && self.program.contract >= Contract::V1_3;
        let urls_json = urls_off_env.then(|| serde_json::json!({ "crl_url": crl_url, "eligibility_url": eligibility_url }).to_string());
        let handed = self.hand_files(world, urls_json.as_deref()).map_err(WorldError::Adapter)?;
        let path_of = |variable: &str| handed.iter().find(|file| file.variable == variable).map(|file| file.path.display().to_string()).unwrap_or_default();
        let (ca_path, cas_path, surface_ca_path, urls_path) =
            (path_of(env::CA_CERT), path_of(env::CA_CERTS), path_of(env::SURFACE_CA), path_of(env::URLS_FILE));
        let (mut seen, mut card_strangers, mut card_held) = (Vec::new(), Vec::new(), None);
        let watch = std::sync::Arc::new(std::sync::Mutex::new(HoldingWatch::default()));
        let probe = self.probe_this_tap().then(|| {
            self.probe_tag = self.probe_tag.wrapping_add(1);
            self.probe_tag
        });
        let mut held_by_transaction = self.held_by_transaction;
        // The program's process group once it runs (0 until then: no command is its).
        let leader = self.leader.clone();
        leader.store(0, std::sync::atomic::Ordering::Relaxed);
        let (mut program_ms, mut verdict_line, mut adapter_error, mut ran) = (0.0, None, None, false);
        let (mut presented_at, mut answered_at, mut first_command): (Option<Instant>, Option<Instant>, Option<Instant>) = (None, None, None);
        let moves = spec.moves;
        // A card left lying in the field by the last tap (`stays`), and whether this tap leaves one.
        let left_lying = std::mem::take(&mut self.left_lying);
        let (mut lying_after, mut left_in_field) = (false, Vec::new());
        // The bridge's connection count when an APDU last went through `ready` (see there).
        let (ready_at, mut ready_after) = (self.ready_at.take(), None);
        let presentation = card_moves::Presentation::new();
        let report = world.tap_with(spec, |card, _tap, _registry, _timeout| {
            // The PIN counters as the card enters the field: what another program spends of them
            // before the reader's exclusive session is put back (see `holding_watch`).
            let at_insertion = card.retry_counters();
            // A removal in an event tap keeps the card out until the harness presents it again.
            slot.removal_returns(!moves.with_events());
            let (ready, to_present) = match moves.arrives {
                Some(Arrival::AfterRequest) => {
                    // The field is empty when the reader is asked, or holds the card left lying.
                    let emptied = if left_lying {
                        Ok(())
                    } else {
                        drop(slot.take());
                        card_moves::take_away(&slot, &reader)
                    };
                    (emptied.map_err(WorldError::Adapter), Some(card))
                }
                arrives => {
                    // Before the request: a visible removal of what was there and an arrival
                    // (1.3), or the card put in without an event (1.2).
                    // After a removal (the bridge reconnected, or is about to) the card is taken
                    // out until pcscd has seen it gone, and comes back as an arrival it sees: a
                    // reader never meets pcscd's view of the card changing under it.
                    let removed_since = !slot.in_field() || ready_at.as_ref().is_some_and(|(connections, _)| *connections != slot.connections());
                    let emptied = if arrives.is_some() || removed_since { card_moves::take_away(&slot, &reader) } else { Ok(()) };
                    slot.insert(card, presence);
                    slot.enter_field();
                    // After a removal fault the bridge reconnects; the next program waits for nothing.
                    // A bridge connected all along since an APDU last went through needs no new
                    // proof (it costs about 11 ms a tap), only that nobody holds the card.
                    // A card of another ATR is another card to pcscd: `ready` resets it, so pcscd
                    // reads its ATR (a reader that left the last card unreset would meet the old one).
                    let proven = arrives.is_none()
                        && ready_at.as_ref() == Some(&(slot.connections(), slot.atr()))
                        && slot.in_field()
                        && !crate::play::pcsc::held_exclusively(&watcher);
                    let ready =
                        emptied.and_then(|()| if proven { Ok(()) } else { crate::play::pcsc::ready(&reader, &watcher, &slot) }).map_err(WorldError::Adapter);
                    ready_after = ready.is_ok().then(|| (slot.connections(), slot.atr()));
                    slot.set_fault(spec.fault);
                    (ready, None)
                }
            };
            // While a command waits for its answer, its sender is connected: ask pcscd how
            // (rule W11), and keep another program's commands apart from the reader's.
            slot.start_recording(sequence, Some(holding_watch(&reader, &watcher, &slot, &watch, at_insertion, &leader, probe)));
            let mut envs = vec![
                (env::READER, reader.clone()),
                (env::CA_CERT, ca_path.clone()),
                (env::CA_CERTS, cas_path.clone()),
                // Whole seconds, as X.509 times are: a reader comparing 23:59:59.900 with a notAfter
                // of 23:59:59 to the sub-second is not wrong, and no clinic can tell.
                (env::NOW, now.replace_nanosecond(0).unwrap_or(now).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()),
                (env::PHONE_SUPPORT, config.smartphone.to_string()),
                (env::SELECTED, selected.to_string()),
                // What the patient typed: the right PIN unless the step says otherwise.
                // An iPhone patient types no PIN (FLOW-3 is Face ID on the phone).
                (env::PIN, pin.clone()),
                (env::CONSENT, consent_json(&spec.consent)),
                (env::TIMEOUT_MS, config.timeout_ms.to_string()),
                (env::BACKEND_TIMEOUT_MS, config.backend_timeout_ms.to_string()),
                (env::CARD_AUTH, if spec.face.is_some() { "face" } else { "pin" }.to_owned()),
                (env::CARD_SURFACE, surface.clone()),
                (env::FACE_MATCH, spec.face.unwrap_or(false).to_string()),
                (env::CONTRACT, contract.as_str().to_owned()),
                (env::SURFACE_CA, surface_ca_path.clone()),
            ];
            if contract >= Contract::V1_3 {
                envs.push((env::CARD_ARRIVAL, card_moves::arrival_word(&moves).to_owned()));
                envs.push((env::CARD_AGAIN_MS, card_moves::card_again_ms(&moves).to_string()));
            }
            if urls_off_env {
                envs.push((env::URLS_FILE, urls_path.clone()));
            } else {
                envs.push((env::CRL_URL, crl_url.clone()));
                envs.push((env::ELIGIBILITY_URL, eligibility_url.clone()));
            }
            ran = true;
            let program_started = Instant::now();
            let done = std::sync::atomic::AtomicBool::new(false);
            let asked = std::thread::scope(|scope| {
                // A card presented after the request arrives while the reader waits for it.
                let presenter = to_present.map(|card| scope.spawn(|| presentation.present(&slot, &reader, card, presence, spec.fault, left_lying)));
                let again = moves.held_again.then(|| scope.spawn(|| card_moves::hold_again_after_removal(&slot, &reader, &done)));
                let asked =
                    ready.and_then(|()| if self.program.session { self.ask_session(&envs) } else { self.run_program(&envs) }.map_err(WorldError::Adapter));
                done.store(true, std::sync::atomic::Ordering::Relaxed);
                let asked = match again.map(|again| again.join()) {
                    Some(Ok(Err(error))) => Err(WorldError::Adapter(format!("the harness could not hold the card again: {error}"))),
                    _ => asked,
                };
                match presenter.map(|presenter| presenter.join()) {
                    None | Some(Ok(Ok(()))) => asked,
                    Some(Ok(Err(failed))) => {
                        let (error, card) = *failed;
                        slot.insert(card, presence);
                        Err(WorldError::Adapter(format!("the harness could not present the card: {error}")))
                    }
                    Some(Err(_)) => Err(WorldError::Task("the card's presenter failed".into())),
                }
            });
            presented_at = Some(presentation.presented_at.lock().ok().and_then(|at| *at).unwrap_or(program_started));
            // A verdict read from files the reader (or anyone) changed meanwhile is no verdict.
            let result = asked.and_then(|verdict| check_unchanged(&handed).map(|()| verdict).map_err(WorldError::Adapter));
            program_ms = program_started.elapsed().as_secs_f64() * 1000.0;
            answered_at = Some(Instant::now());
            verdict_line = result.as_ref().ok().map(Verdict::to_line);
            adapter_error = result.as_ref().err().map(ToString::to_string);
            seen = slot.take_recording();
            let watched = watch.lock().map(|watch| watch.clone()).unwrap_or_default();
            // The probe answers within moments (refused, or its command answered); wait for it a
            // little so its outcome is this tap's. Not for a reader already found holding a
            // transaction: that keeps the probe out until it lets go, and pcscd lets the probe
            // through up to 100 ms later. Its probe, still waiting, is taken for the transaction
            // again (judged `transaction` once held off 25 ms, else not judged); it lands later,
            // perhaps in the next tap, where it is nobody's command: its tag is not that tap's,
            // and the tap's fault does not count it. One still pending when the run ends leaves
            // pcscd a failed clean-up reset, which the next run's readiness check puts right
            // (`play::pcsc::ready` re-seats a card pcscd wrongly reports absent).
            let known_holder = self.held_by_transaction;
            let probe_deadline = Instant::now() + Duration::from_millis(500);
            while !known_holder && watched.probe_pending() && Instant::now() < probe_deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            card_held = watched.card_held(&seen);
            if watched.probe_wanted {
                held_by_transaction = card_held == Some("transaction") || (card_held.is_none() && known_holder && watched.probe_pending());
            }
            first_command = watched.first_command;
            // The first commands, up to the card left lying taken away, went to that card.
            let lying_count = presentation.to_card_left_lying.lock().map(|count| *count).unwrap_or(0);
            let to_lying: HashSet<u64> = seen.iter().take(lying_count).map(|apdu| apdu.sequence).collect();
            (seen, card_strangers) = watched.split(std::mem::take(&mut seen));
            (left_in_field, seen) = std::mem::take(&mut seen).into_iter().partition(|apdu| to_lying.contains(&apdu.sequence));
            let fault_fired = slot.fault_fired();
            let transcript = seen
                .iter()
                .map(|apdu| mynatap_sim::driver::Exchange {
                    command: apdu.command.clone(),
                    response: apdu
                        .response
                        .as_deref()
                        .map(mynatap_sim::driver::Response::from_bytes)
                        .ok_or(mynatap_sim::transport::TransportError::CardRemoved),
                })
                .collect();
            let report = result.map(|verdict| TapReport { outcome: verdict.into_outcome(selected, spec.consent, contract), transcript, fault_fired });
            // Out of the field first, so nothing more reaches it; then what another program did
            // to it after the reader let go is undone.
            let mut card = slot.take();
            let after_reader = watch.lock().ok().and_then(|watch| watch.after_reader);
            if let (Some(card), Some(counters)) = (card.as_mut(), after_reader) {
                card.restore_retry_counters(counters);
            }
            if moves.stays {
                // It lies in the field still (a copy: the world keeps the device), answering a
                // reader that takes it for the next patient's.
                if let Some(card) = &card {
                    slot.insert(card.clone(), presence);
                }
                lying_after = true;
            } else if moves.with_events() {
                slot.leave_field();
            }
            (card, report)
        });
        self.left_lying = lying_after;
        self.ready_at = ready_after;
        // Late requests (a straggler of this program's) are strangers' from here on.
        self.held_by_transaction = held_by_transaction;
        self.server.end_tap();
        let http = self.server.take_log();
        let strangers = self.server.take_strangers();
        // The patient's wait (a verdict only: an adapter error has none).
        // In whole microseconds: a short decimal reads back as the same f64, so `bundle verify`
        // computes the same medians from the evidence files.
        let ms = |from: Instant, to: Instant| (to.saturating_duration_since(from).as_secs_f64() * 1_000_000.0).round() / 1000.0;
        let presented_to_first_apdu_ms = presented_at.zip(first_command).map(|(presented, first)| ms(presented, first));
        let first_apdu_to_verdict_ms = first_command.zip(answered_at.filter(|_| verdict_line.is_some())).map(|(first, answered)| ms(first, answered));
        self.evidence = ran.then(|| TapEvidence {
            step: 0,
            reader: self.player.reader().to_owned(),
            verdict: verdict_line,
            adapter_error,
            program_ms,
            tap_ms: tap_started.elapsed().as_secs_f64() * 1000.0,
            fault_fired: report.as_ref().ok().and_then(|r| r.fault_fired),
            apdus: seen
                .iter()
                .map(|apdu| ApduSeen { sequence: apdu.sequence, command: apdu.command.clone(), response: apdu.response.clone().map(HexBytes) })
                .collect(),
            http: http.clone(),
            strangers,
            card_held: card_held.map(str::to_owned),
            card_strangers: card_strangers
                .iter()
                .map(|apdu| ApduSeen { sequence: apdu.sequence, command: apdu.command.clone(), response: apdu.response.clone().map(HexBytes) })
                .collect(),
            presented_to_first_apdu_ms,
            first_apdu_to_verdict_ms,
            left_in_field: left_in_field
                .iter()
                .map(|apdu| ApduSeen { sequence: apdu.sequence, command: apdu.command.clone(), response: apdu.response.clone().map(HexBytes) })
                .collect(),
            arrived_after_request: moves.arrives == Some(Arrival::AfterRequest),
        });
        if let (Ok(played), Some(evidence)) = (&report, &self.evidence) {
            let tap = TapContext { device, spec, expect, contract, cas: &cas, pin: &pin };
            self.violations = judge_evidence(evidence, &tap, &played.outcome, &mut self.challenges);
        }
        report
    }

    fn take_violations(&mut self) -> Vec<Violation> {
        std::mem::take(&mut self.violations)
    }

    fn take_evidence(&mut self) -> Option<TapEvidence> {
        self.evidence.take()
    }
}
