//! Personalisation: keys, certificates and PINs put into a card or a phone.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::card::surface::{CardSurface, Forgery, LazySurfaceFiles};
use crate::card::{Card, CardCredential, HolderInfo, SurfaceCredential};
use crate::clock::yyyymmdd;
use crate::pki::card_verifiable::SurfaceAuthority;
use crate::pki::card_verifiable::card_encoding;
use crate::pki::{CertificateAuthority, CertificateFault, KeyAlgorithm, LazyCertificate, LeafRequest, PkiError, SigningKey, rsa_pool};
use crate::profile::{DeviceKind, Profile};

/// What to issue for one device.
#[derive(Debug, Clone)]
pub struct IssueRequest<'a> {
    /// Labels the keys; the same label and seed give the same keys.
    pub key_label: &'a str,
    /// The algorithm of both keys (user authentication and signature).
    pub key: KeyAlgorithm,
    /// RSA keys only: the pool slots of the two keys (see [`rsa_pool`]).
    pub rsa_slots: [usize; 2],
    /// The person the certificates name (scenario id).
    pub holder: &'a str,
    /// The device the credential goes into.
    pub device: DeviceKind,
    /// Serial of the user-authentication certificate.
    pub auth_serial: u64,
    /// Serial of the signature certificate.
    pub sign_serial: u64,
    /// Start of both certificates' validity.
    pub not_before: OffsetDateTime,
    /// End of both certificates' validity.
    pub not_after: OffsetDateTime,
    /// The user-authentication PIN.
    pub auth_pin: &'a str,
    /// The signature password.
    pub sign_password: &'a str,
    /// The card-info input support PIN.
    pub card_info_pin: &'a str,
    /// The holder's data for the card-info application.
    pub holder_info: HolderInfo,
    /// The physical card only: what is printed on its face.
    pub printed: Option<Printed>,
    /// A break of the user-authentication certificate's profile (contract 1.3 `certificate:`).
    pub auth_fault: Option<CertificateFault>,
}

/// What is printed on a physical card beside the photo (the card-surface application holds it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    /// The 4-digit security code under the photo.
    pub security_code: String,
    /// The card's own expiry date, `YYYYMMDD`.
    pub expires: String,
    /// A forged or cloned card (scenario `card.forgery`).
    pub forgery: Option<Forgery>,
}

/// Where the card's own (card-surface) key comes from in the RSA pool: away from the JPKI slots,
/// so adding the card surface moved no existing key (pool keys repeat past its size anyway).
const SURFACE_KEY_SLOT_OFFSET: usize = rsa_pool::POOL_SIZE / 2;
/// A clone's chip has keys of its own: the pool slots it takes instead of the genuine ones.
const CLONE_SLOT_OFFSET: usize = rsa_pool::POOL_SIZE / 4;

/// Issues both certificates with `ca` and returns the credential to put into a card.
pub fn issue(ca: &CertificateAuthority, trusted_ca_der: &[u8], seed: u64, request: &IssueRequest<'_>) -> Result<CardCredential, PkiError> {
    let [auth_slot, sign_slot] = request.rsa_slots;
    let auth_key = SigningKey::derive(request.key, seed, &format!("{}:auth", request.key_label), auth_slot)?;
    let sign_key = SigningKey::derive(request.key, seed, &format!("{}:sign", request.key_label), sign_slot)?;
    let leaf = |serial, key: &SigningKey, device: &str, fault| -> Result<Arc<LazyCertificate>, PkiError> {
        LazyCertificate::new(
            ca,
            &LeafRequest { serial, holder: request.holder, device, not_before: request.not_before, not_after: request.not_after, subject_key: key, fault },
        )
        .map(Arc::new)
    };
    let auth_cert = leaf(request.auth_serial, &auth_key, request.device.as_str(), request.auth_fault)?;
    let sign_cert = leaf(request.sign_serial, &sign_key, &format!("{} signature", request.device), None)?;
    let surface = request.printed.as_ref().map(|printed| surface_credential(seed, request, printed)).transpose()?;
    let forgery = request.printed.as_ref().and_then(|printed| printed.forgery);
    // A clone carries the genuine certificates but not the genuine keys: another chip's.
    let (auth_key, sign_key) = if forgery == Some(Forgery::Clone) {
        (
            SigningKey::derive(request.key, seed, &format!("{}:clone:auth", request.key_label), auth_slot + CLONE_SLOT_OFFSET)?,
            SigningKey::derive(request.key, seed, &format!("{}:clone:sign", request.key_label), sign_slot + CLONE_SLOT_OFFSET)?,
        )
    } else {
        (auth_key, sign_key)
    };
    Ok(CardCredential {
        auth_key,
        auth_cert,
        sign_key,
        sign_cert,
        // The card carries the certificate of the authority it believes in, even when forged.
        ca_cert: trusted_ca_der.to_vec(),
        auth_pin: request.auth_pin.to_owned(),
        sign_password: request.sign_password.to_owned(),
        card_info_pin: request.card_info_pin.to_owned(),
        holder_info: request.holder_info.clone(),
        surface,
    })
}

/// The card-surface application of a physical card: its own RSA key, what is printed, and the
/// files signed by the test card-surface CA's signer (or spoiled as `printed.forgery` says).
fn surface_credential(seed: u64, request: &IssueRequest<'_>, printed: &Printed) -> Result<SurfaceCredential, PkiError> {
    let slot = request.rsa_slots[0] + SURFACE_KEY_SLOT_OFFSET;
    let card_key = SigningKey::derive(KeyAlgorithm::Rsa2048, seed, &format!("{}:surface", request.key_label), slot)?;
    let SigningKey::Rsa(rsa_key) = &card_key else { return Err(PkiError::Key("the card-surface key must be RSA-2048".into())) };
    let surface = CardSurface {
        birth_date: request.holder_info.birth_date.clone(),
        expires: printed.expires.clone(),
        security_code: printed.security_code.clone(),
        sex: request.holder_info.sex.clone(),
        my_number: request.holder_info.my_number.clone(),
        card_key: card_encoding(&rsa_key.public_key()),
    };
    let authority = if printed.forgery == Some(Forgery::UnknownSurfaceCa) { SurfaceAuthority::unknown()? } else { SurfaceAuthority::test()? };
    let files = Arc::new(LazySurfaceFiles::new(surface, authority, printed.forgery));
    // A clone's chip answers challenges with its own key, not the one in the records.
    let card_key = if printed.forgery == Some(Forgery::Clone) {
        SigningKey::derive(KeyAlgorithm::Rsa2048, seed, &format!("{}:clone:surface", request.key_label), slot + CLONE_SLOT_OFFSET)?
    } else {
        card_key
    };
    Ok(SurfaceCredential { files, card_key })
}

/// A sample holder for demos and the `mynatap card` pipe.
pub fn sample_holder() -> HolderInfo {
    HolderInfo {
        name: "見本 花子".into(),
        address: "東京都千代田区霞が関1-2-2".into(),
        birth_date: "19900512".into(),
        sex: "2".into(),
        my_number: "123456789018".into(),
    }
}

/// What is printed on the demo card (`mynatap card --birth-date ... --expires ... --security-code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoPrinted {
    /// Birth date printed on the card.
    pub birth_date: time::Date,
    /// The card's own expiry date (its year is part of number B).
    pub expires: time::Date,
    /// The 4-digit security code printed on the card.
    pub security_code: String,
    /// A forged or cloned card (as scenario `card.forgery`), to show readers one.
    pub forgery: Option<Forgery>,
}

impl Default for DemoPrinted {
    /// Born 1990-05-12 (平成2), the card expiring 2030-09-19, security code 0000: number B
    /// `02051220300000`.
    fn default() -> Self {
        Self { birth_date: time::macros::date!(1990 - 05 - 12), expires: time::macros::date!(2030 - 09 - 19), security_code: "0000".into(), forgery: None }
    }
}

/// A personalised card of the test CA of `seed` (RSA-2048, as the JPKI authorities), with the
/// profile's key: what `mynatap card` and `serve-card` answer with.
pub fn demo_card(profile: Profile, seed: u64, pin: &str) -> Result<Card, PkiError> {
    demo_card_printed(profile, seed, pin, &DemoPrinted::default())
}

/// [`demo_card`] with what is printed on it (the physical card's surface; ignored for phones).
pub fn demo_card_printed(profile: Profile, seed: u64, pin: &str, printed: &DemoPrinted) -> Result<Card, PkiError> {
    let credential = demo_credential_printed(profile.device, profile.key, seed, pin, printed)?;
    Ok(Card::new(Arc::new(profile), credential))
}

/// The credential [`demo_card`] puts into its card.
pub fn demo_credential(device: DeviceKind, key: KeyAlgorithm, seed: u64, pin: &str) -> Result<CardCredential, PkiError> {
    demo_credential_printed(device, key, seed, pin, &DemoPrinted::default())
}

fn demo_credential_printed(device: DeviceKind, key: KeyAlgorithm, seed: u64, pin: &str, printed: &DemoPrinted) -> Result<CardCredential, PkiError> {
    let ca = CertificateAuthority::trusted(seed, KeyAlgorithm::Rsa2048)?;
    // Fixed dates (not the system clock) so the demo card is the same on every run.
    let not_before = OffsetDateTime::from_unix_timestamp(1_758_240_000).map_err(|e| PkiError::Time(e.to_string()))?; // 2025-09-19
    let request = IssueRequest {
        key_label: "demo",
        key,
        rsa_slots: [rsa_pool::FIRST_DEVICE_SLOT, rsa_pool::FIRST_DEVICE_SLOT + 1],
        holder: "demo",
        device,
        auth_serial: 0x0100,
        sign_serial: 0x0101,
        not_before,
        // 23:59:59 JST of its last day, as every JPKI certificate (14:59:59Z).
        not_after: crate::clock::end_of_day(crate::clock::local_date(not_before + Duration::days(5 * 365))),
        auth_pin: pin,
        sign_password: "ABC123",
        card_info_pin: pin,
        holder_info: HolderInfo { birth_date: yyyymmdd(printed.birth_date), ..sample_holder() },
        printed: (device == DeviceKind::Card).then(|| Printed {
            security_code: printed.security_code.clone(),
            expires: yyyymmdd(printed.expires),
            forgery: printed.forgery,
        }),
        auth_fault: None,
    };
    issue(&ca, ca.certificate_der(), seed, &request)
}
