//! What a tap is asked to be (the device, the terminal, the patient's choices, faults, how the
//! card moves) and what it came to.

use super::*;

/// What is tapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TapTarget {
    /// A phone, by id.
    Phone(String),
    /// A person's physical card (Q14).
    Card(String),
}

/// One patient flow, as a scenario's `tap` step describes it.
#[derive(Debug, Clone)]
pub struct TapSpec {
    /// What is tapped.
    pub target: TapTarget,
    /// Which terminal (`None`: the world's only one).
    pub terminal: Option<String>,
    /// iPhone: Face ID / Touch ID done on the phone (FLOW-3).
    pub user_verified: bool,
    /// The PIN typed on the terminal; `None` types the right one.
    pub pin: Option<String>,
    /// FLOW-2 choice; `None` chooses the device's own type.
    pub os_selected: Option<DeviceKind>,
    /// FLOW-5: what the patient agrees to share.
    pub consent: Consent,
    /// A fault in the device's answers.
    pub fault: Option<Fault>,
    /// A fault in the back ends' answers (the device answers normally).
    pub backend_fault: Option<BackendFault>,
    /// Card taps: `Some(face_match)` for face recognition (FLOW-3 without a PIN), `None` for the PIN.
    pub face: Option<bool>,
    /// How the device enters and leaves the field around the tap (contract 1.3).
    pub moves: CardMoves,
}

/// When the tapped device enters the field, as a patient moves it (contract 1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Presented (a PC/SC arrival) before the reader is asked: it came while the reader was busy.
    BeforeRequest,
    /// Presented after the reader was asked and began to wait for it.
    AfterRequest,
}

/// How a patient moves the device around one tap (contract 1.3). The default is the 1.2 tap:
/// the device is in the field when the reader is asked, put there without a PC/SC event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CardMoves {
    /// When the device arrives, as a PC/SC event (`None`: in the field already, no event).
    pub arrives: Option<Arrival>,
    /// After a `remove_after` fault the same device is held again at once, and the tap is judged
    /// on the second hold (the terminal starts over).
    pub held_again: bool,
    /// The device stays in the field after its verdict (the next tap's device arrives only once
    /// it is taken away).
    pub stays: bool,
}

impl CardMoves {
    /// The tap meets the card as PC/SC events (arrival, removal) rather than already present.
    pub fn with_events(&self) -> bool {
        self.arrives.is_some()
    }
}

impl TapSpec {
    /// A plain tap of phone `id`: unlocked, the right PIN, its own type chosen, no fault.
    pub fn phone(id: &str) -> Self {
        Self {
            target: TapTarget::Phone(id.into()),
            terminal: None,
            user_verified: true,
            pin: None,
            os_selected: None,
            consent: Consent::default(),
            fault: None,
            backend_fault: None,
            face: None,
            moves: CardMoves::default(),
        }
    }
    /// A plain tap of `person`'s physical card by PIN.
    pub fn card(person: &str) -> Self {
        Self { target: TapTarget::Card(person.into()), ..Self::phone("") }
    }
}

/// What a tap produced.
#[derive(Debug, Clone)]
pub struct TapReport {
    /// How the tap ended.
    pub outcome: Outcome,
    /// Every command and response of the tap.
    pub transcript: Vec<Exchange>,
    /// Whether the step's device fault took effect (`None`: no device fault).
    pub fault_fired: Option<bool>,
}
