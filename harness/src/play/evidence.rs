//! What a player saw of a tap beyond its APDU transcript: a reader program's verdict line and
//! time, and every APDU and back-end request in the order they happened. Certification records
//! it; a signed bundle keeps it so the verdicts can be judged again offline.

use serde::{Deserialize, Serialize};

/// One request to the back ends, as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// Position among this reader's APDUs and requests (one counter for both).
    pub sequence: u64,
    /// The request's path, less the tap's token.
    pub path: String,
    /// For `/eligibility`: the serial asked for, when it parsed.
    pub serial: Option<u64>,
    /// The HTTP status answered.
    pub status: u16,
    /// The request carried the tap's token but came from a process outside the reader program's
    /// tap (this pid; 0: it had closed its connection, or no reader program ran): the token was
    /// stolen. Kept with the strangers' requests, never judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stolen_by: Option<u32>,
}

/// One APDU as the device saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApduSeen {
    /// Position among this reader's APDUs and requests.
    pub sequence: u64,
    #[serde(with = "upper_hex")]
    /// The command bytes.
    pub command: Vec<u8>,
    /// `None`: the device had left the field.
    pub response: Option<HexBytes>,
}

/// Bytes as upper-case hex, as transcripts and captures write APDUs.
pub mod upper_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes bytes as upper-case hex.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode_upper(bytes))
    }

    /// Reads hex (either case) into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        hex::decode(&text).map_err(serde::de::Error::custom)
    }
}

/// Bytes written as upper-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexBytes(pub Vec<u8>);

impl Serialize for HexBytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode_upper(&self.0))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        hex::decode(&text).map(HexBytes).map_err(serde::de::Error::custom)
    }
}

/// One tap played by a reader program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TapEvidence {
    /// The scenario step, from 1.
    pub step: usize,
    /// The PC/SC reader the tap was played on.
    pub reader: String,
    /// The program's verdict line, or `None` when it gave none.
    pub verdict: Option<String>,
    /// Why there is no verdict (the tap's adapter_error).
    pub adapter_error: Option<String>,
    /// The reader program's own time, start to exit, in milliseconds.
    pub program_ms: f64,
    /// The harness's time for the whole tap (serving the device, the back ends, the program).
    pub tap_ms: f64,
    /// Whether the step's device fault took effect (`None`: no device fault).
    pub fault_fired: Option<bool>,
    /// Every APDU the device saw during the tap.
    pub apdus: Vec<ApduSeen>,
    /// Every request the back ends saw during the tap.
    pub http: Vec<HttpRequest>,
    /// Requests to the back ends during the tap without its token: another process's, refused
    /// with 404 and never judged (kept to show they were there).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strangers: Vec<HttpRequest>,
    /// What a bystander met while the reader worked with the card: `exclusive` (its connect
    /// refused), `transaction` (its command refused) or `shared` (its command answered between
    /// the reader's): contract 1.3, rule W11. Absent: nothing to conclude, or an older record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_held: Option<String>,
    /// Commands another program sent the card during the tap while the reader did not hold it
    /// (before its exclusive connect, or after it let go): logged, never judged; what they did to
    /// the card's retry counters is undone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub card_strangers: Vec<ApduSeen>,
    /// The patient's wait, first part: from the card presented (in the field, the request
    /// handed to the reader) to the reader's first APDU, in milliseconds (`None`: it sent none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presented_to_first_apdu_ms: Option<f64>,
    /// The patient's wait, second part: from the reader's first APDU to its verdict line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_apdu_to_verdict_ms: Option<f64>,
    /// Contract 1.3: the reader's commands to a card left in the field by an earlier tap, before
    /// this tap's card arrived (rule W12).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_in_field: Vec<ApduSeen>,
    /// Contract 1.3: the card arrived after the reader was asked (a PC/SC arrival): its wait
    /// to the first APDU includes pcscd's polling of the virtual reader.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub arrived_after_request: bool,
}

/// The patient's wait over many taps: median and 95th percentile of each part, in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PatientsWait {
    /// Taps with a first APDU.
    pub taps: usize,
    /// Card presented -> first APDU: (median, p95).
    pub to_first_apdu: (f64, f64),
    /// First APDU -> verdict: (median, p95).
    pub to_verdict: (f64, f64),
    /// Taps whose card arrived after the request (contract 1.3), apart: their count and card
    /// presented -> first APDU (median, p95), pcscd's polling included.
    pub arrivals: Option<(usize, (f64, f64))>,
}

impl PatientsWait {
    /// Over `taps` (`None`: no tap reached the card).
    pub fn of<'a>(taps: impl Iterator<Item = &'a TapEvidence>) -> Option<Self> {
        let (mut first, mut verdict, mut arrived) = (Vec::new(), Vec::new(), Vec::new());
        for tap in taps {
            match (tap.presented_to_first_apdu_ms, tap.first_apdu_to_verdict_ms) {
                (Some(a), Some(_)) if tap.arrived_after_request => arrived.push(a),
                (Some(a), Some(b)) => {
                    first.push(a);
                    verdict.push(b);
                }
                _ => {}
            }
        }
        let arrivals = (!arrived.is_empty()).then(|| (arrived.len(), median_p95(&mut arrived)));
        if first.is_empty() {
            return None;
        }
        Some(Self { taps: first.len(), to_first_apdu: median_p95(&mut first), to_verdict: median_p95(&mut verdict), arrivals })
    }

    /// As reports print it.
    pub fn line(&self) -> String {
        let arrivals = self.arrivals.map_or(String::new(), |(taps, (median, p95))| {
            format!("; {taps} taps whose card arrived after the request apart: card presented -> first APDU median {median:.1} ms, p95 {p95:.1} ms (pcscd's 400 ms polling of the virtual reader included)")
        });
        format!(
            "patient's wait over {} taps: card presented -> first APDU median {:.1} ms, p95 {:.1} ms; first APDU -> verdict median {:.1} ms, p95 {:.1} ms (the card is in the field when the reader is asked: pcscd's 400 ms polling of the virtual reader is not in these figures){arrivals}",
            self.taps, self.to_first_apdu.0, self.to_first_apdu.1, self.to_verdict.0, self.to_verdict.1
        )
    }
}

/// Median and 95th percentile (nearest rank) of `values`.
fn median_p95(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |fraction: f64| {
        let rank = ((fraction * values.len() as f64).ceil() as usize).clamp(1, values.len());
        values.get(rank - 1).copied().unwrap_or_default()
    };
    (at(0.5), at(0.95))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tap(first: Option<f64>, verdict: Option<f64>) -> TapEvidence {
        TapEvidence {
            step: 1,
            reader: String::new(),
            verdict: None,
            adapter_error: None,
            program_ms: 0.0,
            tap_ms: 0.0,
            fault_fired: None,
            apdus: Vec::new(),
            http: Vec::new(),
            strangers: Vec::new(),
            card_held: None,
            card_strangers: Vec::new(),
            presented_to_first_apdu_ms: first,
            first_apdu_to_verdict_ms: verdict,
            left_in_field: Vec::new(),
            arrived_after_request: false,
        }
    }

    #[test]
    fn the_patients_wait_is_median_and_p95_over_taps_that_reached_the_card() {
        assert_eq!(PatientsWait::of([tap(None, None)].iter()), None);
        let taps: Vec<TapEvidence> = (1..=20).map(|n| tap(Some(f64::from(n)), Some(f64::from(n) * 10.0))).chain([tap(None, Some(1.0))]).collect();
        let wait = PatientsWait::of(taps.iter()).unwrap();
        assert_eq!(wait.taps, 20);
        assert_eq!(wait.to_first_apdu, (10.0, 19.0));
        assert_eq!(wait.to_verdict, (100.0, 190.0));
        assert!(wait.line().contains("400 ms polling"), "{}", wait.line());
        // A card arriving after the request waits on pcscd's polling: reported apart.
        let mut arrived = tap(Some(450.0), Some(20.0));
        arrived.arrived_after_request = true;
        let wait = PatientsWait::of(taps.iter().chain([&arrived])).unwrap();
        assert_eq!((wait.taps, wait.arrivals), (20, Some((1, (450.0, 450.0)))));
        assert!(wait.line().contains("1 taps whose card arrived after the request apart"), "{}", wait.line());
    }
}
