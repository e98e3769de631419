//! Timing of APDU round trips and its summary (median, p90, p99, maximum), shared by
//! `bench-tap` and the PC/SC player.

use std::time::{Duration, Instant};

use mynatap_sim::transport::{Transport, TransportError};

/// A transport wrapper that records each APDU's round trip.
#[derive(Debug)]
pub struct Timed<'a, T> {
    /// The wrapped transport.
    pub inner: T,
    /// Each APDU's round trip, appended.
    pub times: &'a mut Vec<Duration>,
}

impl<T: Transport> Transport for Timed<'_, T> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let start = Instant::now();
        let response = self.inner.transmit(command);
        self.times.push(start.elapsed());
        response
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        self.inner.atr()
    }
    fn card_present(&mut self) -> bool {
        self.inner.card_present()
    }
}

/// Median, p90, p99 and maximum.
pub fn summarize(label: &str, times: &mut [Duration]) -> String {
    if times.is_empty() {
        return format!("{label}: no samples\n");
    }
    times.sort_unstable();
    let at = |p: f64| times.get(((p * times.len() as f64).ceil() as usize).saturating_sub(1)).copied().unwrap_or_default();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{label:<5} median {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  max {:.3} ms  ({} samples)\n",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(times.last().copied().unwrap_or_default()),
        times.len()
    )
}
