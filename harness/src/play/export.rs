//! A scenario's world written to a folder for outside verifiers (`mynatap world export`): the
//! trusted CA's certificate, every device's user-authentication certificate and the current CRL,
//! in DER and PEM, with an index that says what each certificate is and what the contract makes of
//! it. OpenSSL, Java's PKIX or a vendor's own validator judge the same bytes the devices hand out.

use std::path::{Path, PathBuf};

use mynatap_sim::pki::profile::USER_AUTHENTICATION_POLICY;
use mynatap_sim::world::{Profiles, TapTarget};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use crate::files;
use crate::scenario::Scenario;

/// One device's certificate in the export.
#[derive(Debug, Serialize)]
pub struct ExportedDevice {
    /// `card-<person>` or `phone-<phone>`: the stem of its `.der` and `.pem` files.
    pub name: String,
    /// `card`, `android` or `iphone`.
    pub kind: String,
    /// Issued by the forger's CA under the trusted name (`forged: true`).
    pub forged: bool,
    /// The profile break the scenario gave its certificate (contract 1.3 `certificate:`), if any.
    pub certificate_fault: Option<String>,
    /// The generation of the authority that issued it (1 = the oldest; `ca-K`, `crl-K`); 0
    /// for a forged certificate.
    pub generation: usize,
    /// What the contract makes of the certificate at `time`, before any step: `valid`, or the
    /// reason a careful relying party rejects it (`untrusted_certificate`, `certificate_expired`,
    /// `certificate_revoked`, `certificate_suspended`). The card's grace is the terminal's, not
    /// a validator's: an expired card certificate is `certificate_expired` here.
    pub expected: String,
}

/// The index written as `world.json`.
#[derive(Debug, Serialize)]
pub struct WorldExport {
    /// The scenario's id.
    pub scenario: String,
    /// The world's time, RFC 3339 in whole seconds: validate at this time (`openssl verify
    /// -attime`, `PKIXParameters.setDate`).
    pub time: String,
    /// The same, in seconds since the Unix epoch.
    pub unix_time: i64,
    /// The policy a user-authentication certificate must carry.
    pub policy: String,
    /// The authorities' keyUsage names cRLSign (contract 1.3 `world.crl_sign`): where false no
    /// CRL of the world can be trusted.
    pub crl_sign: bool,
    /// The trusted CA's certificate (the newest generation's): `ca.der`; `ca.pem` holds every
    /// generation's certificate, oldest first (for `openssl verify -CAfile`).
    pub ca: String,
    /// Each trusted authority, oldest generation first: `ca-K.der` (K from 1).
    pub cas: Vec<String>,
    /// The newest authority's current CRL: `crl.der`; `crl.pem` holds every generation's
    /// current CRL (for `openssl verify -CRLfile`).
    pub crl: String,
    /// Each authority's current CRL, oldest generation first: `crl-K.der`.
    pub crls: Vec<String>,
    /// CRLs no relying party may use (contract 1.3 back-end faults), for the newest authority:
    /// `crl-fault-<kind>.der`, each to be judged in place of `crl.der`.
    pub crl_faults: Vec<ExportedCrlFault>,
    /// Every device of the world, cards first.
    pub devices: Vec<ExportedDevice>,
}

/// A CRL fault in the export.
#[derive(Debug, Serialize)]
pub struct ExportedCrlFault {
    /// The stem of its files: `crl-fault-<kind>`.
    pub name: String,
    /// The scenario format's fault kind (`crl_other_key`, ...).
    pub fault: String,
    /// What the contract makes of a valid certificate checked against it: `service_unavailable`.
    pub expected: String,
}

/// Why the world could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The scenario's world could not be built.
    #[error("the world of `{scenario}` cannot be built: {detail}")]
    World {
        /// The scenario's id.
        scenario: String,
        /// What failed.
        detail: String,
    },
    /// A file could not be written.
    #[error(transparent)]
    File(#[from] files::FileError),
}

/// Writes the world of `scenario` as it stands before its first step into `dir` (created if
/// missing; files of the same names are replaced, never followed through a symlink).
pub fn export_world(scenario: &Scenario, seed: u64, dir: &Path) -> Result<WorldExport, ExportError> {
    let world_error = |detail: String| ExportError::World { scenario: scenario.id.clone(), detail };
    let world = super::build_world(scenario, seed, &Profiles::default()).map_err(|error| world_error(error.to_string()))?;
    files::ensure_folder(dir)?;
    let now = mynatap_sim::clock::whole_seconds(world.now());
    let registry = world.registry();
    write_both(dir, "ca", "CERTIFICATE", registry.ca().certificate_der())?;
    write_both(dir, "crl", "X509 CRL", &registry.crl().der)?;
    let (mut cas, mut crls, mut ca_bundle, mut crl_bundle) = (Vec::new(), Vec::new(), String::new(), String::new());
    for (index, ca) in registry.cas().iter().enumerate() {
        let crl = registry.crl_of(index);
        let (ca_name, crl_name) = (format!("ca-{}", index + 1), format!("crl-{}", index + 1));
        write_both(dir, &ca_name, "CERTIFICATE", ca.certificate_der())?;
        write_both(dir, &crl_name, "X509 CRL", &crl.der)?;
        ca_bundle.push_str(&pem("CERTIFICATE", ca.certificate_der()));
        crl_bundle.push_str(&pem("X509 CRL", &crl.der));
        cas.push(ca_name);
        crls.push(crl_name);
    }
    files::write_replacing(&dir.join("ca.pem"), ca_bundle.as_bytes())?;
    files::write_replacing(&dir.join("crl.pem"), crl_bundle.as_bytes())?;
    let mut crl_faults = Vec::new();
    for fault in mynatap_sim::service::BackendFault::WITHOUT_FIELDS.into_iter().filter(|fault| fault.crl_defect().is_some()) {
        let newest = registry.cas().len() - 1;
        let snapshot = mynatap_sim::service::crl_answer(registry, Some(fault), now, newest).map_err(|error| world_error(error.to_string()))?;
        let name = format!("crl-fault-{}", fault.kind().trim_start_matches("crl_").replace('_', "-"));
        write_both(dir, &name, "X509 CRL", &snapshot.der)?;
        crl_faults.push(ExportedCrlFault { name, fault: fault.kind().to_owned(), expected: "service_unavailable".into() });
    }
    let forged: std::collections::HashSet<&str> =
        scenario.world.people.iter().flat_map(|person| person.phones.iter().filter(|phone| phone.forged).map(|phone| phone.id.as_str())).collect();
    let mut devices = Vec::new();
    for (target, certificate) in world.device_certificates() {
        let der = certificate.map_err(|error| world_error(error.to_string()))?;
        let certificate_serial =
            mynatap_sim::pki::parse_certificate(&der).ok().and_then(|c| mynatap_sim::pki::serial_to_u64(c.tbs_certificate().serial_number().as_bytes()));
        let (name, kind, fault, is_forged, serial) = match &target {
            TapTarget::Card(person) => {
                let spec = scenario.world.people.iter().find(|p| &p.spec.id == person).map(|p| &p.spec);
                (format!("card-{person}"), "card".to_owned(), spec.and_then(|spec| spec.card_certificate_fault), false, None)
            }
            TapTarget::Phone(phone) => {
                let defined = scenario.world.people.iter().flat_map(|p| p.phones.iter()).find(|p| &p.id == phone);
                let kind = world.phone_os(phone).map(|os| os.to_string()).unwrap_or_default();
                (format!("phone-{phone}"), kind, defined.and_then(|p| p.certificate), forged.contains(phone.as_str()), registry.phone_serial(phone))
            }
        };
        write_both(dir, &name, "CERTIFICATE", &der)?;
        let crl_usable = scenario.world.crl_sign;
        let expected = expected_judgement(&der, now, (is_forged, fault.is_some(), crl_usable), serial.and_then(|serial| registry.revocation_of(serial)));
        let generation = if is_forged { 0 } else { certificate_serial.map_or(registry.cas().len(), |serial| registry.issuer_of(serial) + 1) };
        devices.push(ExportedDevice { name, kind, forged: is_forged, certificate_fault: fault.map(|fault| fault.name().to_owned()), generation, expected });
    }
    let export = WorldExport {
        scenario: scenario.id.clone(),
        time: now.format(&Rfc3339).unwrap_or_default(),
        unix_time: now.unix_timestamp(),
        policy: USER_AUTHENTICATION_POLICY.to_string(),
        crl_sign: scenario.world.crl_sign,
        ca: "ca".into(),
        cas,
        crl: "crl".into(),
        crls,
        crl_faults,
        devices,
    };
    let json = serde_json::to_vec_pretty(&export).unwrap_or_default();
    files::write_replacing(&dir.join("world.json"), &json)?;
    Ok(export)
}

/// What the contract makes of a certificate, from what the scenario says of it (not from the
/// terminal's checks, which the outside verifiers are there to confirm).
fn expected_judgement(
    der: &[u8],
    now: time::OffsetDateTime,
    (forged, faulty, crl_usable): (bool, bool, bool),
    revocation: Option<mynatap_sim::pki::RevocationReason>,
) -> String {
    use mynatap_sim::pki::RevocationReason;
    if forged || faulty {
        return "untrusted_certificate".into();
    }
    let expired = mynatap_sim::pki::parse_certificate(der).ok().is_some_and(|certificate| {
        let not_after = certificate.tbs_certificate().validity().not_after.to_unix_duration().as_secs();
        i64::try_from(not_after).is_ok_and(|not_after| now.unix_timestamp() > not_after)
    });
    match revocation {
        _ if expired => "certificate_expired".into(),
        // The authority's keyUsage lacks cRLSign: no CRL of it tells the status.
        _ if !crl_usable => "service_unavailable".into(),
        Some(RevocationReason::CertificateHold) => "certificate_suspended".into(),
        Some(_) => "certificate_revoked".into(),
        None => "valid".into(),
    }
}

fn write_both(dir: &Path, stem: &str, label: &str, der: &[u8]) -> Result<(), files::FileError> {
    files::write_replacing(&dir.join(format!("{stem}.der")), der)?;
    files::write_replacing(&dir.join(format!("{stem}.pem")), pem(label, der).as_bytes())
}

/// PEM as RFC 7468 writes it: base64 in lines of 64 characters.
pub fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = String::with_capacity(der.len() * 4 / 3 + 4);
    for chunk in der.chunks(3) {
        let bytes = [chunk.first().copied().unwrap_or(0), chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let group = u32::from(bytes[0]) << 16 | u32::from(bytes[1]) << 8 | u32::from(bytes[2]);
        for (index, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            let symbol = ALPHABET.get(((group >> shift) & 63) as usize).copied().map_or('=', char::from);
            encoded.push(if index <= chunk.len() { symbol } else { '=' });
        }
    }
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(line));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

/// The folder a scenario's world is exported to under `root`: its id.
pub fn folder_for(root: &Path, scenario: &Scenario) -> PathBuf {
    root.join(&scenario.id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pem_is_base64_in_lines_of_64() {
        assert_eq!(pem("X", b"Man"), "-----BEGIN X-----\nTWFu\n-----END X-----\n");
        assert_eq!(pem("X", b"Ma"), "-----BEGIN X-----\nTWE=\n-----END X-----\n");
        assert_eq!(pem("X", b"M"), "-----BEGIN X-----\nTQ==\n-----END X-----\n");
        let long = pem("X", &[0u8; 60]);
        assert_eq!(long.lines().nth(1).unwrap().len(), 64);
    }
}
