//! No world holds a certificate that was never valid: whatever the world's clock and the card's
//! expiry, every certificate the registry issues (cards, renewed cards, phones, forged phones)
//! starts before it ends, and starts before the world's time when it is issued at it.

#![allow(clippy::unwrap_used)]

use der::Decode;
use mynatap_sim::backend::{PersonSpec, Registry};
use mynatap_sim::clock;
use mynatap_sim::pki::KeyAlgorithm;
use mynatap_sim::profile::DeviceKind;
use proptest::prelude::*;
use time::{Date, Duration, OffsetDateTime};
use x509_cert::Certificate;

fn validity(der: &[u8]) -> (i64, i64) {
    let certificate = Certificate::from_der(der).unwrap();
    let validity = certificate.tbs_certificate().validity();
    let seconds = |time: &x509_cert::time::Time| i64::try_from(time.to_unix_duration().as_secs()).unwrap();
    (seconds(&validity.not_before), seconds(&validity.not_after))
}

fn date_from_days(days: i64) -> Date {
    clock::local_date(clock::EARLIEST) + Duration::days(days)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(48)))]

    /// A card whose certificate ended long before the world began (a grace or expired-card
    /// scenario), one ending on the world's day, or years later: each is valid for some time.
    #[test]
    fn every_issued_certificate_starts_before_it_ends(
        world_days in 1i64..40_000,
        world_second in 0i64..86_400,
        expiry_offset_days in -4_000i64..4_000,
    ) {
        let now = clock::EARLIEST + Duration::days(world_days) + Duration::seconds(world_second);
        let expires = date_from_days((world_days + expiry_offset_days).max(1));
        let mut registry = Registry::new(7, now, KeyAlgorithm::P256).unwrap();
        let mut spec = PersonSpec::example("hanako");
        spec.birth_date = date_from_days(0);
        spec.card_cert_expires = expires;
        spec.card_key = Some(KeyAlgorithm::P256);
        let card = registry.add_person(&spec, now).unwrap();
        let forged = registry.issue_forged("hanako", "stolen", (DeviceKind::Android, KeyAlgorithm::P256), "1234", now, None).unwrap();
        let mut certificates = vec![card.auth_cert.der().unwrap().to_vec(), card.sign_cert.der().unwrap().to_vec(), forged.auth_cert.der().unwrap().to_vec()];
        let adult = clock::first_day_of_age(spec.birth_date, 15) <= clock::local_date(now);
        if adult && clock::valid_through(clock::end_of_day(expires), now) {
            let phone = registry.add_phone("hanako", "android", DeviceKind::Android, KeyAlgorithm::P256, "1234", None, now).unwrap();
            certificates.push(phone.auth_cert.der().unwrap().to_vec());
        }
        let later = now + Duration::days(1);
        if let Ok(renewed) = registry.renew_card("hanako", clock::local_date(later) + Duration::days(400), later) {
            certificates.push(renewed.auth_cert.der().unwrap().to_vec());
        }
        for der in &certificates {
            let (not_before, not_after) = validity(der);
            prop_assert!(not_before < not_after, "never valid: {not_before} .. {not_after}");
            let at_issue = OffsetDateTime::from_unix_timestamp(not_before).unwrap();
            // Issued into the world now: it starts an hour before now unless it ended before that.
            prop_assert!(at_issue < later);
        }
    }
}

/// The certificate of a card that expired before the world began starts on the same date five
/// years before its last day (a card renewed on a birthday runs to the fifth birthday after).
#[test]
fn an_expired_card_was_issued_five_years_before_its_last_day() {
    let now = time::macros::datetime!(2028-03-01 00:00 +09:00);
    let mut registry = Registry::new(7, now, KeyAlgorithm::P256).unwrap();
    let mut spec = PersonSpec::example("hanako");
    spec.card_cert_expires = time::macros::date!(2027 - 11 - 30);
    spec.card_key = Some(KeyAlgorithm::P256);
    let card = registry.add_person(&spec, now).unwrap();
    let (not_before, not_after) = validity(card.auth_cert.der().unwrap());
    assert_eq!(OffsetDateTime::from_unix_timestamp(not_before).unwrap(), time::macros::datetime!(2022-11-30 00:00 +09:00));
    assert_eq!(OffsetDateTime::from_unix_timestamp(not_after).unwrap(), time::macros::datetime!(2027-11-30 23:59:59 +09:00));
}
