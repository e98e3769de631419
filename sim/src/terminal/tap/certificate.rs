//! FLOW-4's certificate: read from the device in pieces, judged against the JPKI profile and the
//! terminal's trust anchors, and its revocation status from the anchor's CRL.

use der::Decode;
use x509_cert::Certificate;

use super::super::crl::x509_instant;
use super::super::{MAX_CERTIFICATE_LEN, Reason, public_key};
use super::{Stage, Subject, Tap};
use crate::apdu::ResponseApdu;
use crate::clock::{self, ExpiryStanding};
use crate::messages::answers::{CrlSnapshot, ServiceError};
use crate::pki::profile::{self, ProfileRule};
use crate::pki::{RevocationReason, serial_to_u64};
use crate::profile::DeviceKind;

impl Tap<'_> {
    pub(super) fn start_certificate(&mut self, response: &ResponseApdu) {
        let total = match response.data.as_slice() {
            [0x30, 0x82, high, low] => usize::from(u16::from_be_bytes([*high, *low])) + 4,
            [0x30, 0x81, len, _] => usize::from(*len) + 3,
            _ => return self.reject(Reason::ProtocolError, format!("certificate header {:?} is not a DER SEQUENCE", response)),
        };
        if total > MAX_CERTIFICATE_LEN {
            return self.reject(Reason::ProtocolError, format!("certificate of {total} bytes is over the {MAX_CERTIFICATE_LEN}-byte limit"));
        }
        self.certificate.clear();
        self.certificate.extend_from_slice(&response.data);
        self.certificate.truncate(total);
        self.certificate_len = total;
        self.read_more_certificate();
    }

    pub(super) fn read_more_certificate(&mut self) {
        let have = self.certificate.len();
        if have >= self.certificate_len {
            return self.check_certificate();
        }
        self.read(Stage::ReadCertificateBody, "READ certificate", have, self.certificate_len - have);
    }

    pub(super) fn continue_certificate(&mut self, response: &ResponseApdu) {
        let wanted = self.certificate_len - self.certificate.len();
        if response.data.is_empty() || response.data.len() > wanted.min(256) {
            let detail = format!("truncated certificate: asked for {} bytes, got {}", wanted.min(256), response.data.len());
            return self.reject(Reason::ProtocolError, detail);
        }
        self.certificate.extend_from_slice(&response.data);
        self.read_more_certificate();
    }

    pub(super) fn check_certificate(&mut self) {
        let certificate = match Certificate::from_der(&self.certificate) {
            Ok(certificate) => certificate,
            // A certificate all the same (a serial of 22 octets): not one the profile allows.
            Err(error) if profile::is_certificate_outside_rfc5280(&self.certificate) => {
                return self.reject(Reason::UntrustedCertificate, format!("certificate outside RFC 5280's profile: {error}"));
            }
            Err(error) => return self.reject(Reason::ProtocolError, format!("certificate does not parse: {error}")),
        };
        let tbs = certificate.tbs_certificate();
        if mutant!(self, QueryBeforeChecks) && self.early_eligibility.is_none() {
            // Ask before any check: what the privacy rule forbids.
            let serial = serial_to_u64(tbs.serial_number().as_bytes()).unwrap_or(0);
            let key = public_key(&certificate);
            if let Some(key) = key {
                self.subject = Some(Subject { serial, key });
                self.stage = Stage::AwaitEarlyEligibility;
                return;
            }
        }
        let any_ca = mutant!(self, AcceptAnyCa);
        if !self.terminal.anchors.iter().any(|anchor| &anchor.name == tbs.issuer()) && !any_ca {
            return self.reject(Reason::UntrustedCertificate, format!("issuer {} is not a trusted CA", tbs.issuer()));
        }
        match self.issuing_anchor(&certificate) {
            Some(issuer) => self.issuer = issuer,
            None if any_ca => {}
            None => return self.reject(Reason::UntrustedCertificate, "certificate signature does not verify with any trusted CA's key of its issuer's name"),
        }
        let broken = profile::violations(&certificate).into_iter().find(|violation| !self.tolerates(violation.rule));
        if let Some(violation) = broken {
            return self.reject(Reason::UntrustedCertificate, format!("not a user-authentication certificate: {violation}"));
        }
        let validity = tbs.validity();
        let now = clock::whole_seconds(self.request.now);
        let (Some(not_before), Some(not_after)) = (x509_instant(&validity.not_before), x509_instant(&validity.not_after)) else {
            return self.reject(Reason::ProtocolError, "certificate validity is out of range");
        };
        // The defect: the printed expiry `DF 29` (unsigned, years later on a genuine card) taken
        // for the certificate's.
        let not_after = match self.printed_expiry().filter(|_| mutant!(self, TrustPrintedExpiry)) {
            Some(printed) => clock::end_of_day(printed),
            None => not_after,
        };
        let skip_expiry = mutant!(self, SkipExpiry);
        let standing = clock::expiry_standing(not_after, now);
        let grace_applies = if mutant!(self, NoGrace) {
            false
        } else {
            self.request.contract.card_grace() && (self.device == DeviceKind::Card || mutant!(self, GraceForPhones))
        };
        match standing {
            ExpiryStanding::InGrace if grace_applies => self.grace = true,
            ExpiryStanding::InGrace | ExpiryStanding::Expired if !skip_expiry => {
                return self.reject(Reason::CertificateExpired, format!("expired at {}", validity.not_after));
            }
            ExpiryStanding::ExpiringSoon => self.expiring_soon = self.request.contract.card_grace(),
            _ => {}
        }
        if now < not_before && !skip_expiry {
            return self.reject(Reason::CertificateExpired, format!("not valid before {}", validity.not_before));
        }
        let Some(serial) = serial_to_u64(tbs.serial_number().as_bytes()) else {
            return self.reject(Reason::UntrustedCertificate, "serial number longer than this CA issues");
        };
        let Some(key) = public_key(&certificate) else {
            return self.reject(Reason::ProtocolError, "certificate key is not RSA-2048, P-256 or P-384");
        };
        self.subject = Some(Subject { serial, key });
        if mutant!(self, SkipCrl) {
            return self.after_revocation_check();
        }
        self.stage = Stage::AwaitCrl;
    }

    /// Whether a deliberate defect lets this rule of the profile go unchecked.
    pub(super) fn tolerates(&self, rule: ProfileRule) -> bool {
        match rule {
            ProfileRule::CriticalExtensions => mutant!(self, IgnoreUnknownCritical),
            ProfileRule::Policy => mutant!(self, AnyPolicy),
            ProfileRule::NotCa => mutant!(self, CaAsLeaf),
            _ => false,
        }
    }

    /// The anchor that issued `certificate`: among the anchors of its issuer's name (generations
    /// share one), the one whose key verifies its signature, those whose key identifier the
    /// certificate names tried first. The name alone never decides.
    pub(super) fn issuing_anchor(&self, certificate: &Certificate) -> Option<usize> {
        // The bytes as the issuer signed them: re-encoding may normalise a time.
        let tbs = profile::signed_part(&self.certificate)?;
        let algorithm = certificate.signature_algorithm().oid;
        let hint = super::super::authority_key_id(certificate);
        let mut candidates: Vec<usize> = self
            .terminal
            .anchors
            .iter()
            .enumerate()
            .filter(|(_, anchor)| &anchor.name == certificate.tbs_certificate().issuer())
            .map(|(index, _)| index)
            .collect();
        if mutant!(self, AnchorByName) {
            // The defect: the first anchor of the name is the issuer, whatever the key.
            candidates.truncate(1);
        }
        candidates.sort_by_key(|&index| self.terminal.anchors.get(index).is_none_or(|anchor| anchor.key_id.is_none() || anchor.key_id != hint));
        candidates
            .into_iter()
            .find(|&index| self.terminal.anchors.get(index).is_some_and(|anchor| anchor.key.verify_x509(&algorithm, &tbs, certificate.signature().raw_bytes())))
    }

    /// The anchor whose CRL this tap consults: the certificate's issuer.
    pub(super) fn crl_issuer(&self) -> usize {
        if mutant!(self, NewestCrl) {
            // The defect: the newest authority's CRL, whoever issued the certificate.
            return self.terminal.anchors.len().saturating_sub(1);
        }
        self.issuer
    }

    /// Feeds the CRL the driver fetched, or why it could not. Without a fresh CRL whose
    /// signature verifies the terminal cannot know the revocation status: it fails closed.
    pub fn on_crl(&mut self, answer: Result<CrlSnapshot, ServiceError>) {
        if self.stage != Stage::AwaitCrl {
            return;
        }
        let snapshot = match answer {
            Ok(snapshot) => snapshot,
            Err(_) if mutant!(self, CrlFailOpen) => return self.after_revocation_check(),
            Err(error) => return self.reject(Reason::ServiceUnavailable, format!("CRL {error}")),
        };
        let issuer = self.crl_issuer();
        let leniency = super::super::crl::CrlLeniency { any_anchor: mutant!(self, CrlAnyAnchor), extensions: mutant!(self, IgnoreCrlExtensions) };
        if let Err(error) = self.terminal.refresh_crl(issuer, &snapshot, leniency) {
            return self.reject(Reason::ServiceUnavailable, format!("revocation status unknown: {error}"));
        }
        let index = self.terminal.crls.get(issuer).and_then(Option::as_ref);
        let next = index.and_then(|index| index.next_update);
        let lapsed = next.is_none_or(|next| !clock::valid_through(next, self.request.now));
        if lapsed && !mutant!(self, AcceptStaleCrl) {
            let detail =
                next.map_or("the CRL has no nextUpdate".to_owned(), |next| format!("the CRL is stale: its nextUpdate {next} is before {}", self.request.now));
            return self.reject(Reason::ServiceUnavailable, detail);
        }
        let serial = self.subject.as_ref().map_or(0, |subject| subject.serial);
        let status = self.terminal.crls.get(issuer).and_then(Option::as_ref).and_then(|index| index.entries.get(&serial).copied());
        match status {
            Some(RevocationReason::CertificateHold) if mutant!(self, IgnoreHold) => self.after_revocation_check(),
            Some(RevocationReason::CertificateHold) => self.reject(Reason::CertificateSuspended, format!("serial {serial:X} is on hold")),
            Some(reason) => self.reject(Reason::CertificateRevoked, format!("serial {serial:X} revoked ({})", reason.name())),
            None => self.after_revocation_check(),
        }
    }
}
