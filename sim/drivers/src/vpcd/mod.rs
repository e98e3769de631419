//! The card side of vsmartcard's `vpcd`: a virtual card served to pcscd over TCP, so unmodified
//! PC/SC programs see it in the reader `Virtual PCD 00 00` (port 35963) or `00 01` (35964).
//!
//! Framing both ways: a 2-byte big-endian length, then the payload. A 1-byte payload from vpcd is
//! a control message (`00` power off, `01` power on, `02` reset, `04` get ATR); a longer one is a
//! command APDU. The frame logic ([`parse_length`], [`Message::classify`]) is sans-IO; [`serve`]
//! is the thin tokio loop around it. The bridge serves whatever card is in its [`CardSlot`], so a
//! harness can change the tapped device between taps without reconnecting (pcscd only notices a
//! new card connection at its next poll, about 0.4 s later).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a removed card stays away: pcscd reports an idle reader empty within about 0.2 s.
const REMOVAL_PAUSE: Duration = Duration::from_millis(600);

mod frame;
mod slot;

pub use frame::{Message, frame, parse_length};
pub use slot::{CardSlot, CommandHook, SeenApdu, Sequence, UserPresence, bystander_probe, is_bystander_probe};

/// Where vpcd listens for the card of `Virtual PCD 00 00`.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:35963";
/// The reader name pcscd gives the card on `port` (35963 -> `00 00`, 35964 -> `00 01`).
pub fn reader_name(port: u16) -> String {
    format!("Virtual PCD 00 {:02}", port.saturating_sub(35963))
}

/// Largest frame the bridge takes: a command with 4 KiB of data in extended form. No JPKI
/// command comes near it (the largest is a 32-byte sign); anything longer is a broken peer.
pub const MAX_FRAME_LEN: usize = 4 + 3 + 4096 + 2;

#[derive(Debug, thiserror::Error)]
/// Why the bridge to vpcd stopped.
pub enum VpcdError {
    #[error("cannot reach vpcd at {address} (is pcscd running with the vsmartcard-vpcd driver? start it, or pass --reconnect to wait)")]
    /// vpcd does not listen at `address`.
    Connect {
        /// Where vpcd was expected.
        address: String,
        /// Why the connection failed.
        #[source]
        source: std::io::Error,
    },
    #[error("vpcd closed the connection")]
    /// vpcd closed the connection.
    Closed,
    #[error("vpcd sent a frame of {0} bytes, over the {MAX_FRAME_LEN}-byte maximum command APDU")]
    /// A frame longer than any command this bridge takes.
    FrameTooLong(usize),
    #[error("vpcd sent an empty frame")]
    /// A frame of no bytes.
    EmptyFrame,
    #[error("vpcd connection broke in the middle of a frame: {0}")]
    /// The connection broke in the middle of a frame.
    Truncated(std::io::Error),
    #[error("vpcd connection failed: {0}")]
    /// Any other socket failure.
    Io(#[from] std::io::Error),
    /// The card left the field (a `remove_after` fault): the bridge dropped the connection in the
    /// middle of an APDU, as a card process that dies does.
    #[error("the card left the field")]
    Removed,
    /// The harness took the card out of the field ([`CardSlot::leave_field`]): the bridge closed
    /// its connection between commands, which pcscd reports as a removal at its next poll.
    #[error("the card was taken out of the field")]
    LeftField,
}

/// What the bridge tells an observer (logs, `serve-card --record`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeEvent<'a> {
    /// A command and the answer sent (empty: the card left the field instead).
    /// The command, and the response sent.
    Apdu {
        /// The command bytes.
        command: &'a [u8],
        /// The response bytes (empty: the card left instead).
        response: &'a [u8],
    },
    /// vpcd powered the card off, on, or reset it.
    Power,
}

/// Sees everything the bridge does with the card, in order.
pub type ApduObserver = dyn Fn(BridgeEvent<'_>) + Send + Sync;

/// Connects to vpcd with the socket options that keep a round trip near 0.1 ms (without them
/// Nagle and delayed ACKs add about 44 ms per APDU).
pub async fn connect(address: &str) -> Result<TcpStream, VpcdError> {
    let stream = TcpStream::connect(address).await.map_err(|source| VpcdError::Connect { address: address.to_owned(), source })?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn quickack(stream: &TcpStream) {
    // The kernel clears TCP_QUICKACK after use, so it is set again before every read; failure
    // only costs latency.
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

/// Serves the slot's card on one vpcd connection until vpcd goes away or sends a bad frame.
pub async fn serve(mut stream: TcpStream, slot: CardSlot, observer: Option<&ApduObserver>) -> Result<(), VpcdError> {
    let mut payload = Vec::with_capacity(512);
    let mut field = slot.1.subscribe();
    loop {
        quickack(&stream);
        let mut header = [0u8; 2];
        let read = tokio::select! {
            read = stream.read_exact(&mut header) => read,
            // Taken out of the field between commands: the connection goes (a half-read header
            // goes with it, as a card leaving mid-frame would).
            _ = field.wait_for(|in_field| !*in_field) => return Err(VpcdError::LeftField),
        };
        match read {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Err(VpcdError::Closed),
            Err(error) => return Err(VpcdError::Io(error)),
        }
        let len = parse_length(header)?;
        payload.resize(len, 0);
        stream.read_exact(&mut payload).await.map_err(VpcdError::Truncated)?;
        match Message::classify(&payload)? {
            Message::PowerOff | Message::PowerOn | Message::Reset => {
                slot.reset();
                if let Some(observe) = observer {
                    observe(BridgeEvent::Power);
                }
            }
            Message::GetAtr => stream.write_all(&frame(&slot.atr())).await?,
            Message::UnknownControl(_) => {}
            Message::Apdu(apdu) => {
                let (response, delay) = slot.answer(apdu);
                if let Some(observe) = observer {
                    observe(BridgeEvent::Apdu { command: apdu, response: &response });
                }
                if response.is_empty() {
                    // Dying mid-command; an empty frame instead would leave vpcd in a state where
                    // the next connection's card cannot be connected to (measured).
                    return Err(VpcdError::Removed);
                }
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                stream.write_all(&frame(&response)).await?;
            }
        }
    }
}

/// Connects and serves; with `reconnect`, a lost or refused connection is retried with backoff
/// (100 ms doubling to 5 s) for as long as the caller lets the future run.
pub async fn run(address: &str, slot: CardSlot, reconnect: bool, observer: Option<&ApduObserver>) -> Result<(), VpcdError> {
    let mut backoff = Duration::from_millis(100);
    let mut field = slot.1.subscribe();
    loop {
        // Out of the field: no connection, so pcscd sees no card, until the harness puts it back.
        if field.wait_for(|in_field| *in_field).await.is_err() {
            return Ok(());
        }
        let result = match connect(address).await {
            Ok(stream) => {
                backoff = Duration::from_millis(100);
                slot.lock().connections += 1;
                tracing::info!(address, "connected to vpcd");
                let served = serve(stream, slot.clone(), observer).await;
                // Gone (a removal, the field left, vpcd closed): counted at once, not at the
                // next connection, so nobody takes the card for there meanwhile.
                slot.lock().connections += 1;
                served
            }
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => return Ok(()),
            Err(VpcdError::Removed) if reconnect => {
                if slot.lock().removal_returns {
                    // Stay out of the field long enough for pcscd to see the reader empty.
                    tracing::info!("card removed; back in the field shortly");
                    tokio::time::sleep(REMOVAL_PAUSE).await;
                } else {
                    tracing::info!("card removed; out of the field until it is presented again");
                    slot.leave_field();
                }
            }
            Err(VpcdError::LeftField) => tracing::info!("card taken out of the field"),
            Err(error) if reconnect => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "vpcd session ended");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use mynatap_sim::credential::demo_card;
    use mynatap_sim::profile::{DeviceKind, Profile};
    use tokio::net::TcpListener;

    /// A fake vpcd on loopback: talks to the bridge exactly as vpcd would.
    #[tokio::test]
    async fn answers_controls_and_apdus_and_ends_cleanly_on_bad_frames() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let card = demo_card(Profile::builtin(DeviceKind::Iphone), 1, "1234").unwrap();
        let atr = card.atr().to_vec();
        let slot = CardSlot::new(None, UserPresence::No, vec![0x3B, 0x00]);
        slot.insert(card, UserPresence::Yes);
        let bridge = tokio::spawn({
            let slot = slot.clone();
            async move { run(&address, slot, false, None).await }
        });
        let (mut vpcd, _) = listener.accept().await.unwrap();
        vpcd.write_all(&frame(&[0x04])).await.unwrap();
        let mut reply = [0u8; 2];
        vpcd.read_exact(&mut reply).await.unwrap();
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(reply))];
        vpcd.read_exact(&mut body).await.unwrap();
        assert_eq!(body, atr);
        vpcd.write_all(&frame(&[0x01])).await.unwrap();
        vpcd.write_all(&frame(&hex::decode("00A4040C0AD392F00026010000000100").unwrap())).await.unwrap();
        vpcd.read_exact(&mut reply).await.unwrap();
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(reply))];
        vpcd.read_exact(&mut body).await.unwrap();
        assert_eq!(body, vec![0x90, 0x00]);
        // A frame longer than any APDU ends the session with a clear error.
        vpcd.write_all(&[0xFF, 0xFF]).await.unwrap();
        let error = bridge.await.unwrap().unwrap_err();
        assert!(matches!(error, VpcdError::FrameTooLong(65_535)), "{error}");
        // The Face ID window survives the power-on reset.
        assert!(slot.take().unwrap().user_verified());
    }

    #[tokio::test]
    async fn truncated_frame_and_refused_connection_are_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let slot = CardSlot::new(None, UserPresence::No, vec![0x3B, 0x00]);
        let bridge = tokio::spawn({
            let slot = slot.clone();
            async move { run(&address, slot, false, None).await }
        });
        let (mut vpcd, _) = listener.accept().await.unwrap();
        vpcd.write_all(&[0x00, 0x10, 0x00, 0xA4]).await.unwrap();
        drop(vpcd);
        assert!(matches!(bridge.await.unwrap(), Err(VpcdError::Truncated(_))));
        drop(listener);
        // Port 1 (tcpmux) has no listener here; a port freed by this test could be taken by a
        // parallel test's listener.
        let refused = run("127.0.0.1:1", slot, false, None).await;
        assert!(matches!(refused, Err(VpcdError::Connect { .. })));
    }
}
