//! A file that says which contract version it was written for may use nothing a later version
//! added: each such field is a located error naming the field and the version that introduced it
//! (docs/scenario-format.md, "mynatap's reading"). And the version is read exactly as written.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use mynatap_harness::scenario::{REQUIREMENTS_MD, parse, requirement_ids};

const WORLD: &str = "world:\n  clock: 2026-04-01T09:00:00+09:00\n";

fn load(contract: &str, world_extra: &str, person: &str, step: &str) -> Result<(), String> {
    let source = format!(
        "contract: \"{contract}\"\nid: gate\ntitle: gate\ncovers: [FLOW-4]\n{WORLD}{world_extra}  people:\n    - id: hanako\n      birth_date: 1990-05-12\n{person}steps:\n  - {step}\n"
    );
    parse(Path::new("gate.yaml"), &source, &requirement_ids(REQUIREMENTS_MD)).map(|_| ()).map_err(|error| error.to_string())
}

#[test]
fn a_1_0_file_cannot_use_what_1_1_added_and_each_error_is_located() {
    let cases: [(&str, &str, &str, &str); 9] = [
        ("  ca_key: p256\n", "", "tap: { card: hanako }", "world.ca_key"),
        ("", "      card: { key: p384 }\n", "tap: { card: hanako }", "card.key"),
        ("", "      phones: [{ id: ph, os: android, key: rsa2048 }]\n", "tap: { phone: ph }", "key"),
        ("", "      card: { security_code: \"1234\" }\n", "tap: { card: hanako }", "card.security_code"),
        ("  terminals: [{ id: t, backend_timeout_ms: 100 }]\n", "", "tap: { card: hanako }", "backend_timeout_ms"),
        ("", "", "tap: { card: hanako, auth: face }", "auth"),
        ("", "", "apdu: { device: hanako, send: \"00A4040C\" }", "apdu"),
        ("", "", "reset: { device: hanako }", "reset"),
        ("", "", "tap: { card: hanako, fault: { kind: crl_unavailable } }", "crl_unavailable"),
    ];
    for (world, person, step, field) in cases {
        let error = load("1.0", world, person, step).expect_err(field);
        assert!(error.contains("is contract 1.1"), "{field}: {error}");
        assert!(error.contains(field), "{field}: {error}");
        assert!(error.contains("gate.yaml:"), "located: {error}");
        // Under 1.1 (and the latest) the same file loads.
        load("1.1", world, person, step).unwrap_or_else(|error| panic!("{field} under 1.1: {error}"));
    }
}

#[test]
fn the_version_is_read_exactly_as_written() {
    let error = load("1.1 ", "", "", "tap: { card: hanako }").unwrap_err();
    assert!(error.contains("unknown contract version `1.1 `"), "{error}");
    load("1.1", "", "", "tap: { card: hanako }").unwrap();
}

/// What the world itself would refuse (a certificate that could never be valid, a phone holding
/// an ended card), names and encodings the 1.3 contract reads, each a located error at load.
#[test]
fn what_a_world_would_refuse_is_located_and_names_are_1_3() {
    let error = load("1.3", "", "      card: { cert_expires: 1969-12-31 }\n", "tap: { card: hanako }").unwrap_err();
    assert!(error.contains("gate.yaml:10:") && error.contains("card.cert_expires") && error.contains("too early"), "{error}");
    let error = load("1.3", "", "      card: { cert_expires: 2026-02-01 }\n      phones: [{ id: ph, os: android }]\n", "tap: { phone: ph }").unwrap_err();
    assert!(error.contains("gate.yaml:11:") && error.contains("phones[0].id") && error.contains("card_not_valid"), "{error}");
    // The card itself, in its grace, still loads and taps (its grace is the card's alone).
    load("1.3", "", "      card: { cert_expires: 2026-02-01 }\n", "tap: { card: hanako }").unwrap();
    // Names outside JIS X 0208 load unchanged under 1.3, and are a located error under 1.2.
    let person = "      insurance: { name: \"髙﨑 𠮷子\", kana: \"タカサキ ヨシコ\" }\n";
    load("1.3", "", person, "tap: { card: hanako }\n    expect: { outcome: verified, name: \"髙﨑 𠮷子\" }").unwrap();
    let error = load("1.2", "", person, "tap: { card: hanako }").unwrap_err();
    assert!(error.contains("insurance.name") && error.contains("is contract 1.3"), "{error}");
    let error = load("1.3", "", "      insurance: { name: \"a\\u0007b\" }\n", "tap: { card: hanako }").unwrap_err();
    assert!(error.contains("control character"), "{error}");
}

/// The card as a patient moves it (1.3): each field needs 1.3, and what cannot happen (held again
/// without a removal, a movement without an arrival, the next patient not awaited while a card
/// lies in the field) is a located error naming the field.
#[test]
fn card_movements_are_1_3_and_what_cannot_happen_is_located() {
    let error = load("1.2", "", "", "tap: { card: hanako, arrives: after_request }").unwrap_err();
    assert!(error.contains("`arrives` is contract 1.3") && error.contains("gate.yaml:11:"), "{error}");
    load("1.3", "", "", "tap: { card: hanako, arrives: after_request }").unwrap();
    let error = load("1.3", "", "", "tap: { card: hanako, arrives: later }").unwrap_err();
    assert!(error.contains("unknown arrival `later`") && error.contains("before_request or after_request"), "{error}");
    let error = load("1.3", "", "", "tap: { card: hanako, arrives: after_request, held_again: true }").unwrap_err();
    assert!(error.contains("held_again") && error.contains("remove_after"), "{error}");
    let error = load("1.3", "", "", "tap: { card: hanako, held_again: true, fault: { kind: remove_after, apdus: 2 } }").unwrap_err();
    assert!(error.contains("held_again") && error.contains("say when it arrives"), "{error}");
    let error = load("1.3", "", "", "tap: { card: hanako, stays: true }").unwrap_err();
    assert!(error.contains("stays") && error.contains("say when it arrives"), "{error}");
    load("1.3", "", "", "tap: { card: hanako, arrives: after_request, held_again: true, fault: { kind: remove_after, apdus: 2 } }").unwrap();
    // After a card left lying, the next tap must await its own card, whatever steps lie between.
    let two = |second: &str| {
        load("1.3", "", "", &format!("tap: {{ card: hanako, arrives: after_request, stays: true }}\n  - advance_clock: {{ days: 1 }}\n  - {second}"))
    };
    let error = two("tap: { card: hanako }").unwrap_err();
    assert!(error.contains("steps[2].tap") && error.contains("stays in the field") && error.contains("gate.yaml:13:"), "{error}");
    two("tap: { card: hanako, arrives: after_request }").unwrap();
}
