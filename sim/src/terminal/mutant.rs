//! Deliberate defects of the terminal, for certification self-tests: each must be caught.

/// A deliberate defect of the terminal, for certification self-tests (`mynatap reference-reader
/// --mutant NAME`): each must be caught by the suite or its wire rules. Never set in service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mutant {
    /// Does not check the certificate's expiry.
    SkipExpiry,
    /// Does not fetch or consult the CRL.
    SkipCrl,
    /// Takes a suspended certificate (on hold, Q20) for a good one.
    IgnoreHold,
    /// Does not verify the device's signature over the challenge.
    SkipSignature,
    /// Accepts a certificate of any CA with the trusted CA's name (forged phones pass).
    AcceptAnyCa,
    /// Offers the phone path where the facility does not (Q16).
    IgnorePhoneSupport,
    /// Ignores the device type the patient chose (FLOW-2).
    IgnoreOsChoice,
    /// Sends the same challenge on every tap (replayable signatures).
    ReuseChallenge,
    /// Asks the eligibility service before the certificate checks are done.
    QueryBeforeChecks,
    /// Sends a PIN VERIFY to an iPhone (FLOW-3: the phone unlocks itself).
    VerifyPinOnIphone,
    /// Retries a wrong PIN by itself, spending the patient's tries.
    RetryPin,
    /// Verifies the tap when the CRL cannot be fetched (fails open).
    CrlFailOpen,
    /// Accepts a CRL past its next update.
    AcceptStaleCrl,
    /// Verifies the tap when the eligibility service gives no trustworthy answer.
    EligibilityFailOpen,
    /// The privacy rule broken: reads the My Number from the card-info application on a card
    /// tap (rule W9), though no step of the clinic flow needs it.
    ReadMyNumber,
    /// A driver defect: after the card left, reconnect and go on sending APDUs (rule W7). The
    /// terminal itself is unchanged; the reference reader's driver acts on it.
    RetryAfterRemoval,
    /// Gives a phone the physical card's three-month grace after expiry (Q18: phones have none).
    GraceForPhones,
    /// Rejects a physical card in its grace as `certificate_expired`, turning away a patient the
    /// rules serve.
    NoGrace,
    /// Reads the eligibility answer "no qualification" (QualificationValidity 4) as "not
    /// registered", sending the patient to the wrong desk.
    NoQualificationAsUnregistered,
    /// Face path: does not check the card face's signature (`DF 28`), so a swapped photo passes.
    SkipRecordSignature,
    /// Face path: does not challenge the card's own key, so a clone of the files passes.
    SkipCardChallenge,
    /// Face path: takes the printed expiry `DF 29` (not signed) for the certificate's validity.
    TrustPrintedExpiry,
    /// Accepts a certificate with a critical extension it does not process (RFC 5280 4.2).
    IgnoreUnknownCritical,
    /// Accepts a certificate of any policy, the JPKI signature certificate's included.
    AnyPolicy,
    /// Accepts a CA certificate (basicConstraints cA) as a device's certificate.
    CaAsLeaf,
    /// Takes the first trusted authority of the issuer's name for the issuer, whatever the key
    /// (breaks at a generation change).
    AnchorByName,
    /// Consults the newest authority's CRL whoever issued the certificate.
    NewestCrl,
    /// Takes a CRL that verifies under any trusted authority of the name.
    CrlAnyAnchor,
    /// Uses a CRL with an unknown critical CRL or entry extension, without a CRL number, or from
    /// an issuer whose keyUsage lacks cRLSign.
    IgnoreCrlExtensions,
    /// A driver defect: connects to the card in shared mode, so any program on the machine can
    /// send it commands during the tap (rule W11). The terminal itself is unchanged.
    SharedConnect,
    /// A reporting defect: leaves the recorded consent (FLOW-5) off the verdict the clinic's
    /// screen is given. The terminal itself is unchanged.
    DropConsent,
    /// A reporting defect: passes the insured person's name and kana through Shift_JIS on the
    /// way to the clinic's screen, so characters outside it (𠮷, a variation selector) become ●.
    /// The terminal itself is unchanged.
    ShiftJisName,
    /// A driver defect (session mode): keeps its card connection from one tap to the next, so
    /// after the card left and the next one arrived it talks to a handle pcscd has closed.
    StaleHandle,
    /// A driver defect: does not wait for the card to arrive (contract 1.3, `after_request`):
    /// connects at once, and fails when the field is still empty.
    ReadsBeforeArrival,
    /// A driver defect: takes a card left lying in the field after its verdict for the next
    /// patient's, instead of waiting for it to go and the next to arrive (rule W12).
    LeftInFieldAsNewPatient,
}

impl Mutant {
    /// Every mutant, in the order kill matrices list them.
    pub const ALL: [Mutant; 35] = [
        Self::SkipExpiry,
        Self::SkipCrl,
        Self::IgnoreHold,
        Self::SkipSignature,
        Self::AcceptAnyCa,
        Self::IgnorePhoneSupport,
        Self::IgnoreOsChoice,
        Self::ReuseChallenge,
        Self::QueryBeforeChecks,
        Self::VerifyPinOnIphone,
        Self::RetryPin,
        Self::CrlFailOpen,
        Self::AcceptStaleCrl,
        Self::EligibilityFailOpen,
        Self::ReadMyNumber,
        Self::RetryAfterRemoval,
        Self::GraceForPhones,
        Self::NoGrace,
        Self::NoQualificationAsUnregistered,
        Self::SkipRecordSignature,
        Self::SkipCardChallenge,
        Self::TrustPrintedExpiry,
        Self::IgnoreUnknownCritical,
        Self::AnyPolicy,
        Self::CaAsLeaf,
        Self::AnchorByName,
        Self::NewestCrl,
        Self::CrlAnyAnchor,
        Self::IgnoreCrlExtensions,
        Self::SharedConnect,
        Self::DropConsent,
        Self::ShiftJisName,
        Self::StaleHandle,
        Self::ReadsBeforeArrival,
        Self::LeftInFieldAsNewPatient,
    ];
    /// The command line's name (`skip-expiry`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::SkipExpiry => "skip-expiry",
            Self::SkipCrl => "skip-crl",
            Self::IgnoreHold => "ignore-hold",
            Self::SkipSignature => "skip-signature",
            Self::AcceptAnyCa => "accept-any-ca",
            Self::IgnorePhoneSupport => "ignore-phone-support",
            Self::IgnoreOsChoice => "ignore-os-choice",
            Self::ReuseChallenge => "reuse-challenge",
            Self::QueryBeforeChecks => "query-before-checks",
            Self::VerifyPinOnIphone => "verify-pin-on-iphone",
            Self::RetryPin => "retry-pin",
            Self::CrlFailOpen => "crl-fail-open",
            Self::AcceptStaleCrl => "accept-stale-crl",
            Self::EligibilityFailOpen => "eligibility-fail-open",
            Self::ReadMyNumber => "read-my-number",
            Self::RetryAfterRemoval => "retry-after-removal",
            Self::GraceForPhones => "grace-for-phones",
            Self::NoGrace => "no-grace",
            Self::NoQualificationAsUnregistered => "no-qualification-as-unregistered",
            Self::SkipRecordSignature => "skip-record-signature",
            Self::SkipCardChallenge => "skip-card-challenge",
            Self::TrustPrintedExpiry => "trust-printed-expiry",
            Self::IgnoreUnknownCritical => "ignore-unknown-critical",
            Self::AnyPolicy => "any-policy",
            Self::CaAsLeaf => "ca-as-leaf",
            Self::AnchorByName => "anchor-by-name",
            Self::NewestCrl => "newest-crl",
            Self::CrlAnyAnchor => "crl-any-anchor",
            Self::IgnoreCrlExtensions => "ignore-crl-extensions",
            Self::SharedConnect => "shared-connect",
            Self::DropConsent => "drop-consent",
            Self::ShiftJisName => "shift-jis-name",
            Self::StaleHandle => "stale-handle",
            Self::ReadsBeforeArrival => "reads-before-arrival",
            Self::LeftInFieldAsNewPatient => "left-in-field-as-new-patient",
        }
    }
    /// The mutant of a command-line name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|mutant| mutant.name() == name)
    }
}
