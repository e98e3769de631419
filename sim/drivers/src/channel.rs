//! The card in its own tokio task behind a channel, and a tap driven over it: the async twin of
//! the core's direct transport, with real delays (the fault layer's `delay` sleeps here).

use std::time::Duration;

use mynatap_sim::card::Card;
use mynatap_sim::driver::{Exchange, record};
use mynatap_sim::service::Backends;
use mynatap_sim::terminal::{Action, Outcome, Reason, Tap};
use mynatap_sim::transport::{FaultDecision, Faulty, TransportError};
use mynatap_sim::world::{TapReport, TapSpec, World, WorldError};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

/// The async twin of [`Transport`](mynatap_sim::transport::Transport).
#[allow(async_fn_in_trait)]
pub trait AsyncTransport {
    /// Sends one command APDU and returns the raw response (data and status word).
    async fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError>;
    /// The card's answer to reset.
    async fn atr(&mut self) -> Result<Vec<u8>, TransportError>;
    /// Whether a card is in the field.
    async fn card_present(&mut self) -> bool;
    /// See [`Transport::held_again`](mynatap_sim::transport::Transport::held_again).
    async fn held_again(&mut self) -> bool {
        false
    }
}

/// On an async transport a delay is real: the response is held back and the transport's own
/// timeout decides.
impl<T: AsyncTransport> AsyncTransport for Faulty<T> {
    async fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let timeout_ms = self.timeout_ms();
        match self.plan_mut().before(command) {
            FaultDecision::Removed => Err(TransportError::CardRemoved),
            FaultDecision::Pass { hit: false } => self.inner_mut().transmit(command).await,
            FaultDecision::Pass { hit: true } => {
                if let Some(delay) = self.plan_mut().delay() {
                    self.plan_mut().mark_delayed();
                    let timeout = Duration::from_millis(timeout_ms);
                    let response = tokio::time::timeout(timeout, async {
                        tokio::time::sleep(delay).await;
                        self.inner_mut().transmit(command).await
                    })
                    .await;
                    return response.unwrap_or(Err(TransportError::Timeout { ms: timeout_ms }));
                }
                let response = self.inner_mut().transmit(command).await?;
                self.plan_mut().apply(response, timeout_ms)
            }
        }
    }
    async fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        if self.plan_mut().card_present() { self.inner_mut().atr().await } else { Err(TransportError::CardRemoved) }
    }
    async fn card_present(&mut self) -> bool {
        self.plan_mut().card_present() && self.inner_mut().card_present().await
    }
    async fn held_again(&mut self) -> bool {
        // The card's task keeps its state: the terminal starts over with a SELECT all the same.
        self.holds_again() && self.plan_mut().hold_again()
    }
}

enum CardRequest {
    Apdu(Vec<u8>, oneshot::Sender<Vec<u8>>),
    Atr(oneshot::Sender<Vec<u8>>),
}

/// The card in its own tokio task, behind a channel; dropping every handle ends the task, which
/// hands the card back (with its retry counters) through the join handle.
#[derive(Debug, Clone)]
pub struct ChannelTransport {
    requests: mpsc::Sender<CardRequest>,
    timeout: Duration,
}

impl std::fmt::Debug for CardRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Apdu(command, _) => write!(f, "Apdu({})", hex::encode_upper(command)),
            Self::Atr(_) => f.write_str("Atr"),
        }
    }
}

impl ChannelTransport {
    /// Spawns the card task on the current tokio runtime.
    pub fn spawn(mut card: Card, timeout: Duration) -> (Self, tokio::task::JoinHandle<Card>) {
        let (requests, mut inbox) = mpsc::channel::<CardRequest>(4);
        let task = tokio::spawn(async move {
            while let Some(request) = inbox.recv().await {
                // A requester that gave up (timeout) is no reason to stop serving.
                match request {
                    CardRequest::Apdu(command, reply) => drop(reply.send(card.process_bytes(&command))),
                    CardRequest::Atr(reply) => drop(reply.send(card.atr().to_vec())),
                }
            }
            card
        });
        (Self { requests, timeout }, task)
    }

    async fn ask(&self, request: CardRequest, reply: oneshot::Receiver<Vec<u8>>) -> Result<Vec<u8>, TransportError> {
        self.requests.send(request).await.map_err(|_| TransportError::CardRemoved)?;
        match tokio::time::timeout(self.timeout, reply).await {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(_)) => Err(TransportError::CardRemoved),
            Err(_) => Err(TransportError::Timeout { ms: self.timeout.as_millis() as u64 }),
        }
    }
}

impl AsyncTransport for ChannelTransport {
    async fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let (reply, answer) = oneshot::channel();
        self.ask(CardRequest::Apdu(command.to_vec(), reply), answer).await
    }
    async fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        let (reply, answer) = oneshot::channel();
        self.ask(CardRequest::Atr(reply), answer).await
    }
    async fn card_present(&mut self) -> bool {
        !self.requests.is_closed()
    }
}

/// The async twin of [`run_tap`](mynatap_sim::driver::run_tap).
pub async fn run_tap_async<T: AsyncTransport + ?Sized>(
    mut tap: Tap<'_>,
    transport: &mut T,
    backends: &impl Backends,
    mut transcript: Option<&mut Vec<Exchange>>,
) -> Outcome {
    loop {
        let command = match tap.next_action() {
            Action::Transmit(command) => command.to_vec(),
            Action::FetchCrl { issuer } => {
                tap.on_crl(backends.crl(issuer));
                continue;
            }
            Action::QueryEligibility { serial } => {
                tap.on_eligibility(backends.eligibility(serial));
                continue;
            }
            Action::Done(_) => {
                if !(tap.card_left() && transport.held_again().await) {
                    break;
                }
                tap = tap.start_over();
                continue;
            }
        };
        let response = transport.transmit(&command).await;
        record(transcript.as_deref_mut(), &command, &response);
        tap.on_response(response.as_deref().map_err(Clone::clone));
    }
    tap.into_outcome().unwrap_or(Outcome::Rejected { reason: Reason::ProtocolError, detail: "tap ended without outcome".into() })
}

/// One tap of `world` with the tapped device in its own tokio task behind a channel, driven on
/// `runtime`: the same flow as [`World::tap`], with delays that really pass.
pub fn tap(runtime: &Runtime, world: &mut World, spec: &TapSpec) -> Result<TapReport, WorldError> {
    let (fault, held_again) = (spec.fault, spec.moves.held_again);
    world.tap_with(spec, |card, tap, backends, timeout_ms| {
        runtime.block_on(async {
            // The channel's own deadline sits above the terminal's so the fault layer's decides.
            let (channel, task) = ChannelTransport::spawn(card, Duration::from_millis(timeout_ms.saturating_mul(4).max(1)));
            let mut transcript = Vec::new();
            let mut transport = Faulty::new(channel, fault, timeout_ms).held_again(held_again);
            let outcome = run_tap_async(tap, &mut transport, backends, Some(&mut transcript)).await;
            let fault_fired = transport.fault_fired();
            drop(transport);
            match task.await {
                Ok(card) => (Some(card), Ok(TapReport { outcome, transcript, fault_fired })),
                Err(error) => (None, Err(WorldError::Task(error.to_string()))),
            }
        })
    })
}
