//! mynatap's card surface and certificates beside the files read off a JPKI test card
//! (`fixtures/myna-card/`, from the crate myna-card): myna-card parses ours as it parses the test
//! card's, and both have the same tags, in the same order, with the same encodings and the same
//! fixed lengths (only images, names and signatures differ in content).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod support;

use myna_card::ap::surface::{AgeRecord, ApBasicData, CardFace, MyNumberImage};
use myna_card::data::{CardVerifiableCertificate, RsaPublicKey};
use mynatap_sim::card::surface::CardSurface;
use mynatap_sim::pki::card_verifiable::SurfaceAuthority;
use support::root;

fn test_card(file: &str) -> Vec<u8> {
    std::fs::read(root().join("fixtures/myna-card").join(file)).unwrap()
}

/// Ours, personalised with the test card's printed data.
fn ours() -> mynatap_sim::card::surface::SurfaceFiles {
    let authority = SurfaceAuthority::test().unwrap();
    let surface = CardSurface {
        birth_date: "19800217".into(),
        expires: "20350217".into(),
        security_code: "2285".into(),
        sex: "1".into(),
        my_number: "123456789018".into(),
        card_key: mynatap_sim::pki::card_verifiable::card_encoding(&authority.ca_public()),
    };
    surface.files(&authority, None).unwrap()
}

/// The shape of a TLV file: (tag, whether its length is written as the card writes lengths -
/// short below 128, `82` from 128 on - and the value's length where it is fixed), in order.
fn shape(bytes: &[u8], fixed: &[u16]) -> Vec<(u16, bool, Option<usize>)> {
    let head = |at: usize| -> (u16, usize, u8, usize) {
        let tag = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        match bytes[at + 2] {
            0x82 => (tag, usize::from(u16::from_be_bytes([bytes[at + 3], bytes[at + 4]])), 0x82, at + 5),
            0x81 => (tag, usize::from(bytes[at + 3]), 0x81, at + 4),
            short => (tag, usize::from(short), 0, at + 3),
        }
    };
    let card_form = |len: usize, form: u8| if len < 0x80 { form == 0 } else { form == 0x82 };
    let (outer, len, form, start) = head(0);
    let mut out = vec![(outer, card_form(len, form), None)];
    let mut at = start;
    while at < start + len {
        let (tag, len, form, value) = head(at);
        out.push((tag, card_form(len, form), fixed.contains(&tag).then_some(len)));
        at = value + len;
    }
    out
}

#[test]
fn myna_card_parses_our_records_as_it_parses_the_test_cards() {
    let files = ours();
    let certificate = CardVerifiableCertificate::parse(&files.certificate).unwrap();
    let ca = RsaPublicKey::parse(&std::fs::read(root().join("fixtures/pki/surface-ca-public.bin")).unwrap()).unwrap();
    certificate.verify_with(&ca).unwrap();
    assert_eq!(certificate.issuer_key_id.number(), "9990023", "an obviously made-up issuer");
    let face = CardFace::parse(&files.card_face).unwrap();
    face.verify(&certificate.public_key).unwrap();
    AgeRecord::parse(&files.age_record).unwrap().verify(&certificate.public_key).unwrap();
    MyNumberImage::parse(&files.my_number_image).unwrap().verify(&certificate.public_key).unwrap();
    ApBasicData::parse(&files.basic_data).unwrap();
    // And the test card's own files, for the record: they parse and verify the same way.
    let theirs = CardVerifiableCertificate::parse(&test_card("surface-0004.bin")).unwrap();
    CardFace::parse(&test_card("surface-0002.bin")).unwrap().verify(&theirs.public_key).unwrap();
}

#[test]
fn our_files_have_the_test_cards_tags_order_encodings_and_fixed_lengths() {
    let files = ours();
    let cases: [(&str, &[u8], &[u16]); 5] = [
        ("surface-0001.bin", &files.age_record, &[0xDF11, 0xDF12, 0xDF13]),
        ("surface-0002.bin", &files.card_face, &[0xDF21, 0xDF22, 0xDF23, 0xDF24, 0xDF28, 0xDF29]),
        ("surface-0003.bin", &files.basic_data, &[0xDF31, 0xDF32, 0xDF33, 0xDF34, 0xDF35]),
        ("surface-0004.bin", &files.certificate, &[0x5F4E, 0x5F37]),
        ("surface-0005.bin", &files.my_number_image, &[0xDF42, 0xDF43]),
    ];
    for (file, ours, fixed) in cases {
        let theirs = test_card(file);
        assert_eq!(shape(ours, fixed), shape(&theirs, fixed), "{file}");
    }
    // The fixed-size files are byte for byte as long as the test card's.
    assert_eq!(files.age_record.len(), test_card("surface-0001.bin").len());
    assert_eq!(files.basic_data.len(), test_card("surface-0003.bin").len());
    assert_eq!(files.certificate.len(), test_card("surface-0004.bin").len());
    // Where each item starts (DF 21) is written the same way: offsets from the file's start.
    let offsets = |file: &[u8]| -> Vec<u16> { file[8..26].chunks(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]])).collect() };
    assert_eq!(offsets(&files.card_face)[0], offsets(&test_card("surface-0002.bin"))[0]);
    // The CA key ships in the shape of the crate's synthetic CA key.
    let shipped = std::fs::read(root().join("fixtures/pki/surface-ca-public.bin")).unwrap();
    assert_eq!(shape_of_key(&shipped), shape_of_key(&test_card("cv-ca-key-synthetic.bin")));
}

fn shape_of_key(key: &[u8]) -> (usize, [u8; 2], [u8; 4]) {
    (key.len(), [key[0], key[1]], [key[5], key[6], key[7], key[8]])
}

/// Our user-authentication certificate carries the test card's extensions, in the same order and
/// with the same criticality (critical keyUsage and certificatePolicies), and expires at 14:59:59Z.
#[test]
fn our_certificate_has_the_test_cards_extension_set() {
    let extensions = |der: &[u8]| -> Vec<(String, bool)> {
        let certificate = mynatap_sim::pki::parse_certificate(der).unwrap();
        certificate.tbs_certificate().extensions().unwrap().iter().map(|extension| (extension.extn_id.to_string(), extension.critical)).collect()
    };
    let ours = std::fs::read(root().join("fixtures/pki/demo-card-auth.der")).unwrap();
    let theirs = test_card("jpki-auth-cert.der");
    assert_eq!(extensions(&ours), extensions(&theirs));
    assert!(extensions(&ours).contains(&("2.5.29.32".to_owned(), true)), "certificatePolicies, critical");
    let not_after = |der: &[u8]| mynatap_sim::pki::parse_certificate(der).unwrap().tbs_certificate().validity().not_after.to_string();
    assert!(not_after(&ours).ends_with("14:59:59Z") || not_after(&ours).contains("14:59:59"), "{}", not_after(&ours));
    assert!(not_after(&theirs).contains("14:59:59"), "{}", not_after(&theirs));
}

/// The attribute types of a name, in order, and the length of each value: the name's shape.
fn name_shape(name: &x509_cert::name::Name) -> Vec<(String, usize)> {
    name.iter().map(|attribute| (attribute.oid.to_string(), attribute.value.value().len())).collect()
}

/// Subject and issuer have the test card's shapes: the subject is `C=JP, CN=<23-character opaque
/// id>` (no name of the person), the issuer `C, O, OU, OU`; the CA certificate carries the test
/// CA's extension set and ends at 23:59:59 JST too.
#[test]
fn our_names_and_ca_certificate_have_the_test_cards_shapes() {
    let parse = |der: &[u8]| mynatap_sim::pki::parse_certificate(der).unwrap();
    let ours = parse(&std::fs::read(root().join("fixtures/pki/demo-card-auth.der")).unwrap());
    let theirs = parse(&test_card("jpki-auth-cert.der"));
    assert_eq!(name_shape(ours.tbs_certificate().subject()), name_shape(theirs.tbs_certificate().subject()));
    let types = |name: &x509_cert::name::Name| name_shape(name).into_iter().map(|(oid, _)| oid).collect::<Vec<_>>();
    assert_eq!(types(ours.tbs_certificate().issuer()), types(theirs.tbs_certificate().issuer()));
    assert_eq!(types(ours.tbs_certificate().issuer()), ["2.5.4.6", "2.5.4.10", "2.5.4.11", "2.5.4.11"]);

    let our_ca = parse(&std::fs::read(root().join("fixtures/pki/ca.der")).unwrap());
    let their_ca = parse(&test_card("jpki-auth-ca-cert.der"));
    assert_eq!(types(our_ca.tbs_certificate().subject()), types(their_ca.tbs_certificate().subject()));
    assert_eq!(our_ca.tbs_certificate().subject(), ours.tbs_certificate().issuer());
    let extensions = |certificate: &x509_cert::Certificate| -> Vec<(String, bool)> {
        certificate.tbs_certificate().extensions().unwrap().iter().map(|extension| (extension.extn_id.to_string(), extension.critical)).collect()
    };
    assert_eq!(extensions(&our_ca), extensions(&their_ca));
    let not_after = |certificate: &x509_cert::Certificate| certificate.tbs_certificate().validity().not_after.to_string();
    assert!(not_after(&our_ca).contains("14:59:59"), "{}", not_after(&our_ca));
}
