//! The `mynatap` command line as CI and people use it: exit codes, reports, errors with
//! file:line:column, and the card pipe read by openssl.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn mynatap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mynatap")).args(args).current_dir(root()).output().expect("run mynatap")
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mynatap-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const SUSPENDED_BUT_EXPECTS_VERIFIED: &str = "id: wrong-expect
title: expects verified for a suspended phone
covers: [Q20]
world:
  clock: 2026-04-01T09:00:00+09:00
  people:
    - id: hanako
      birth_date: 1990-05-12
      phones:
        - { id: hanako-android, os: android }
steps:
  - report_lost: { phone: hanako-android }
  - tap: { phone: hanako-android }
    expect: { outcome: verified }
";

#[test]
fn the_suite_passes_and_covers_every_requirement() {
    let run = mynatap(&["run"]);
    assert_eq!(run.status.code(), Some(0), "{}", stdout(&run));
    assert!(stdout(&run).contains("0 failed, 0 errors"));
    let coverage = mynatap(&["coverage"]);
    assert_eq!(coverage.status.code(), Some(0), "{}", stdout(&coverage));
    for id in ["expired-certificate", "revoked-device", "second-phone-added", "lost-device-suspension"] {
        assert!(root().join("scenarios").join(format!("{id}.yaml")).exists(), "{id}");
    }
}

#[test]
fn a_wrong_expectation_fails_with_step_values_and_transcript() {
    let file = scratch("wrong-expect.yaml", SUSPENDED_BUT_EXPECTS_VERIFIED);
    let run = mynatap(&["run", file.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    let text = stdout(&run);
    assert!(text.contains("step 2 (tap)"), "{text}");
    assert!(text.contains("expected: verified"), "{text}");
    assert!(text.contains("actual:   rejected: certificate_suspended"), "{text}");
    assert!(text.contains("> 00A4040C0AD392F000260100000001  < 9000"), "{text}");
}

fn assert_input_error(name: &str, text: &str, expected: &str, position: &str) {
    let file = scratch(name, text);
    let run = mynatap(&["run", file.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2), "{}", stdout(&run));
    let out = stdout(&run);
    assert!(out.contains(&format!("{name}:{position}")), "want {name}:{position} in {out}");
    assert!(out.contains(expected), "want {expected} in {out}");
}

#[test]
fn malformed_files_exit_2_with_file_line_column() {
    let good = SUSPENDED_BUT_EXPECTS_VERIFIED;
    assert_input_error("bad-yaml.yaml", "id: x\ncovers: [Q19\n", "did not find expected", "3:1");
    assert_input_error("unknown-field.yaml", &good.replace("title:", "titel:"), "unknown field `titel`", "2:1");
    assert_input_error("unknown-phone.yaml", &good.replace("tap: { phone: hanako-android", "tap: { phone: ghost"), "unknown phone `ghost`", "13:12");
    assert_input_error("missing-expect.yaml", &good.replace("expect: { outcome: verified }", "expect:"), "`expect` has no value", "14:5");
    assert_input_error(
        "two-actions.yaml",
        &good.replace("  - report_lost: { phone: hanako-android }\n", "  - report_lost: { phone: hanako-android }\n    resume: { phone: hanako-android }\n"),
        "exactly one action key",
        "13:5",
    );
    assert_input_error("unknown-step.yaml", &good.replace("report_lost:", "report_stolen:"), "unknown field `report_stolen`", "12:5");
    assert_input_error("bad-reason.yaml", &good.replace("outcome: verified", "outcome: rejected, reason: sad"), "unknown reason `sad`", "14:34");
    assert_input_error(
        "dup-phone.yaml",
        &good.replace(
            "        - { id: hanako-android, os: android }\n",
            "        - { id: hanako-android, os: android }\n        - { id: hanako-android, os: iphone }\n",
        ),
        "duplicate phone id",
        "11:13",
    );
}

/// Inputs the loader once accepted and then crashed on or played silently (issue: edge cases of
/// the rules): each is now a located error, exit 2, never a panic.
#[test]
fn edge_inputs_are_located_errors_never_a_crash() {
    let good = SUSPENDED_BUT_EXPECTS_VERIFIED;
    let clock_step = good.replace("  - report_lost: { phone: hanako-android }\n", "  - advance_clock: { days: 3000000 }\n");
    assert_input_error("clock-far.yaml", &clock_step, "the clock would leave the range", "12:5");
    let late = good.replace("2026-04-01T09:00:00+09:00", "9999-12-31T09:00:00+09:00");
    assert_input_error("clock-late.yaml", &late, "expected a time from 1970-01-01", "5:3");
    let huge = good.replace("  - report_lost: { phone: hanako-android }\n", "  - advance_clock: { days: 9223372036854775807 }\n");
    assert_input_error("clock-huge.yaml", &huge, "the clock only moves forward", "12:5");
    let consent = good.replace("tap: { phone: hanako-android }", "tap: { phone: hanako-android, consent: { all: true, medication: false } }");
    assert_input_error("consent.yaml", &consent, "`all: true` shares everything, yet `medication: false`", "13:");
    let pin = good.replace("birth_date: 1990-05-12", "birth_date: 1990-05-12\n      card: { pin: 12.34 }");
    assert_input_error("pin-float.yaml", &pin, "got the number 12.34: a PIN is 4 digits", "9:");
    let unborn = good.replace("birth_date: 1990-05-12", "birth_date: 2027-05-12");
    assert_input_error("unborn.yaml", &unborn, "after the world's date", "8:");
    let backwards = good.replace("birth_date: 1990-05-12", "birth_date: 1990-05-12\n      insurance: { valid_from: 2027-01-01, valid_until: 2026-12-31 }");
    assert_input_error("insurance-backwards.yaml", &backwards, "valid_from must not be after valid_until", "9:");
    let unknown_fault = good.replace("tap: { phone: hanako-android }", "tap: { phone: hanako-android, fault: { kind: backend_delay, service: dns, ms: 5 } }");
    assert_input_error("bad-service.yaml", &unknown_fault, "unknown service `dns`", "13:");
    let syntax = good.replace("      phones:\n", "      phones: [\n");
    assert_input_error("syntax.yaml", &syntax, "not well-formed YAML", "10:");
    assert!(!stdout(&mynatap(&["run", scratch("syntax.yaml", &syntax).to_str().unwrap()])).contains('?'), "a syntax error names no `?` path");
    let verify_on_iphone = good
        .replace("os: android", "os: iphone")
        .replace("tap: { phone: hanako-android }", "tap: { phone: hanako-android, fault: { kind: wrong_status, command: verify, sw: \"6983\" } }");
    assert_input_error("verify-on-iphone.yaml", &verify_on_iphone, "an iPhone tap sends no VERIFY", "13:");
    // Version 1.1 values that cannot be: a key no card has, a face on a phone, a short code.
    let rsa1024 = good.replace("{ id: hanako-android, os: android }", "{ id: hanako-android, os: android, key: rsa1024 }");
    assert_input_error("rsa1024.yaml", &rsa1024, "unknown key `rsa1024` (expected one of rsa2048, p256, p384)", "10:");
    let face_on_phone = good.replace("tap: { phone: hanako-android }", "tap: { phone: hanako-android, auth: face }");
    assert_input_error("face-on-phone.yaml", &face_on_phone, "`auth: face` is the physical card's path", "13:");
    let short_code = good.replace("birth_date: 1990-05-12", "birth_date: 1990-05-12\n      card: { security_code: \"123\" }");
    assert_input_error("short-code.yaml", &short_code, "a security code is the 4 digits printed on the card, got `123`", "9:");
    let sign_on_face = good.replace("tap: { phone: hanako-android }", "tap: { card: hanako, auth: face, fault: { kind: corrupt_response, command: sign } }");
    assert_input_error("sign-on-face.yaml", &sign_on_face, "a face tap makes no signature", "13:");
}

/// A fault the tap never reaches (`apdu: 99` of an 11-command tap) fails the step: it tested
/// nothing, and a certificate must not rest on it.
#[test]
fn a_fault_that_never_fires_fails_the_step() {
    let unreached = SUSPENDED_BUT_EXPECTS_VERIFIED
        .replace("  - report_lost: { phone: hanako-android }\n", "")
        .replace("tap: { phone: hanako-android }", "tap: { phone: hanako-android, fault: { kind: corrupt_response, apdu: 99 } }");
    let run = mynatap(&["run", scratch("unreached-fault.yaml", &unreached).to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1), "{}", stdout(&run));
    let text = stdout(&run);
    assert!(text.contains("actual:   verified without the fault"), "{text}");
    assert!(text.contains("{ kind: corrupt_response, apdu: 99 } never took effect"), "{text}");
    let reached = unreached
        .replace("corrupt_response, apdu: 99", "wrong_status, apdu: 2, sw: \"6F00\"")
        .replace("outcome: verified", "outcome: rejected, reason: protocol_error");
    let run = mynatap(&["run", scratch("reached-fault.yaml", &reached).to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(0), "{}", stdout(&run));
}

#[test]
fn a_broken_file_does_not_stop_the_others() {
    let broken = scratch("broken.yaml", "id: [\n");
    let run = mynatap(&["run", broken.to_str().unwrap(), "scenarios/second-phone-added.yaml"]);
    assert_eq!(run.status.code(), Some(2));
    let text = stdout(&run);
    assert!(text.contains("PASS  second-phone-added"), "{text}");
    assert!(text.contains("1 passed, 0 failed, 1 errors"), "{text}");
}

#[test]
fn junit_is_xml_with_one_testcase_per_scenario() {
    let file = scratch("wrong-expect.yaml", SUSPENDED_BUT_EXPECTS_VERIFIED);
    let run = mynatap(&["run", "--format", "junit", "scenarios", file.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    let xml = stdout(&run);
    let document = roxmltree::Document::parse(&xml).expect("valid XML");
    let cases: Vec<_> = document.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    let scenarios = std::fs::read_dir(root().join("scenarios")).unwrap().count();
    assert_eq!(cases.len(), scenarios + 1);
    assert_eq!(document.descendants().filter(|n| n.has_tag_name("failure")).count(), 1);
}

#[test]
fn json_is_one_document_and_the_seed_reproduces_it_byte_for_byte() {
    let a = mynatap(&["run", "--format", "json", "--seed", "7", "--jobs", "1"]);
    let b = mynatap(&["run", "--format", "json", "--seed", "7", "--jobs", "2"]);
    assert_eq!(a.stdout, b.stdout, "same seed, same report, whatever the parallelism");
    let value: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(value["seed"], 7);
    assert_eq!(value["summary"]["failed"], 0);
    assert!(value["coverage"].as_array().unwrap().len() >= 15);
}

#[test]
fn list_and_schema() {
    let list = mynatap(&["list"]);
    assert_eq!(list.status.code(), Some(0));
    assert!(stdout(&list).contains("second-phone-added\tAdding the card to a second phone makes the first one unusable\tQ19"));
    let schema = mynatap(&["schema"]);
    let value: serde_json::Value = serde_json::from_slice(&schema.stdout).unwrap();
    assert_eq!(value["title"], "RawScenario");
    assert_eq!(value["additionalProperties"], false);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(mynatap(&["run", "no/such/folder"]).status.code(), Some(2));
    assert_eq!(mynatap(&["run", "--format", "xml"]).status.code(), Some(2));
    assert_eq!(mynatap(&["run", "--filter", "nothing-matches-this"]).status.code(), Some(2));
}

fn pipe(profile: &str, extra: &[&str], input: &str) -> (Vec<String>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mynatap"))
        .args(["card", "--profile", profile])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    (stdout(&output).lines().map(str::to_owned).collect(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Reads the auth certificate the way a reader does: 4 bytes, then the rest.
fn read_certificate(profile: &str, extra: &[&str], prefix: &str) -> Vec<u8> {
    let head = format!("{prefix}00A4040C0AD392F00026010000000100\n00A4020C02000A\n00B0000004\n");
    let (lines, _) = pipe(profile, extra, &head);
    let header = lines.last().unwrap().split(' ').next().unwrap().to_owned();
    let total = usize::from_str_radix(&header[4..8], 16).unwrap() + 4;
    let mut script = head.clone();
    let mut offset = 4;
    while offset < total {
        let chunk = (total - offset).min(256);
        script.push_str(&format!("00B0{offset:04X}{:02X}\n", chunk % 256));
        offset += chunk;
    }
    let (lines, errors) = pipe(profile, extra, &script);
    // The physical card says what is printed on it (number B) on stderr; nothing else may appear.
    assert!(errors.lines().all(|line| line.starts_with("mynatap: printed on the card: number B ")), "{errors}");
    let skip = prefix.lines().count() + 2;
    hex::decode(lines[skip..].iter().map(|l| l.split(' ').next().unwrap()).collect::<String>()).unwrap()
}

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().expect("openssl must be installed")
}

#[test]
fn pipe_certificate_is_read_by_openssl_and_chains_to_the_fixtures_ca() {
    let der = read_certificate("card", &[], "");
    let cert = scratch("card-auth.der", "");
    std::fs::write(&cert, &der).unwrap();
    let printed = openssl(&["x509", "-inform", "DER", "-noout", "-subject", "-issuer", "-in", cert.to_str().unwrap()]);
    assert!(printed.status.success());
    assert!(stdout(&printed).contains("MYNATAP-JPKI-TEST"));
    let ca_pem = scratch("ca.pem", "");
    let leaf_pem = scratch("leaf.pem", "");
    let ca_der = root().join("fixtures/pki/ca.der");
    assert!(openssl(&["x509", "-inform", "DER", "-in", ca_der.to_str().unwrap(), "-out", ca_pem.to_str().unwrap()]).status.success());
    assert!(openssl(&["x509", "-inform", "DER", "-in", cert.to_str().unwrap(), "-out", leaf_pem.to_str().unwrap()]).status.success());
    let verify = openssl(&["verify", "-attime", "1775000000", "-CAfile", ca_pem.to_str().unwrap(), leaf_pem.to_str().unwrap()]);
    assert!(stdout(&verify).contains("OK"), "{}", stdout(&verify));
    // The Android phone's certificate needs its PIN first.
    let android = read_certificate("android", &["--pin", "4321"], "00A4040C0AD392F00026010000000100\n00A4020C020018\n002000800434333231\n");
    assert_eq!(android[0], 0x30);
}

#[test]
fn pipe_answers_labels_pins_and_bad_lines() {
    let read_label = "00A4040C0AD392F00026010000000100\n00A4020C020006\n00B0000020\n";
    for (profile, label) in [("card", "JPKIAPICCTOKEN2"), ("android", "JPKIAPGPSETOKEN"), ("iphone", "JPKIAPIOSTOKEN")] {
        let (lines, _) = pipe(profile, &[], read_label);
        let data = hex::decode(lines[2].split(' ').next().unwrap()).unwrap();
        assert_eq!(String::from_utf8(data).unwrap().trim_end(), label);
    }
    let script = "00A4040C0AD392F00026010000000100\n00A4020C020018 # the PIN\nnot hex\n0020008004393939\n002000800439393939\n002000800439393939\n002000800439393939\nreset\n00A4040C0AD392F00026010000000100\n00A4020C020018\n002000800431323334\n";
    let (lines, errors) = pipe("card", &[], script);
    assert_eq!(lines, vec!["9000", "9000", "63C2", "63C1", "63C0", "9000", "9000", "6984"]);
    assert!(errors.contains("line 3:") && errors.contains("line 4:"), "{errors}");
    // iPhone: the sign command needs Face ID, which VERIFY does not replace.
    let sign = &format!("00A4040C0AD392F00026010000000100\n00A4020C020017\n802A008020{}00\n", "11".repeat(32));
    assert_eq!(pipe("iphone", &[], sign).0.last().unwrap(), "6982");
    assert!(pipe("iphone", &["--user-verified"], sign).0.last().unwrap().ends_with(" 9000"));
}

#[test]
fn malformed_profile_names_the_field() {
    let text = std::fs::read_to_string(root().join("fixtures/profiles/android.yaml")).unwrap().replace("auth_key: \"0017\"", "auth_key: \"17\"");
    let file = scratch("broken-profile.yaml", &text);
    let run = mynatap(&["card", "--profile-file", file.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("jpki.auth_key"));
}
