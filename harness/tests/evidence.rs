//! A certificate is evidence (docs/certification.md, "What a verdict rests on"): readers that print
//! the right verdicts without doing the protocol are not conformant, with the missing evidence
//! named; a bystander querying the back ends changes no verdict. Over real PC/SC.
//!
//! Needs pcscd with vsmartcard-vpcd and opensc-tool (scripts/test.sh).

#![cfg(feature = "pcsc")]
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use support::{exclusive, mynatap, scratch_dir, text};

fn script(dir: &std::path::Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Certifies `program` on `scenario` (JSON report): (exit code, the scenario's result, all printed).
fn certify(program: &std::path::Path, scenario: &str) -> (Option<i32>, Value, String) {
    let run = mynatap().args(["certify", "--fixed-suite-only", "--format", "json", "--reader-cmd", program.to_str().unwrap(), scenario]).output().unwrap();
    let report: Value = serde_json::from_slice(&run.stdout).unwrap_or(Value::Null);
    (run.status.code(), report["scenarios"][0].clone(), text(&run))
}

/// A card revoked before its tap.
const REVOKED: &str = "id: evidence-revoked
title: A revoked card is rejected
covers: [Q18]
world:
  clock: 2026-04-01T09:00:00+09:00
  people:
    - id: hanako
      birth_date: 1990-05-12
      card: { cert_expires: 2030-05-12 }
      insurance: { registered: true, insurer: \"06132013\", valid_until: 2027-03-31 }
steps:
  - revoke_card: { person: hanako }
  - tap: { card: hanako }
    expect: { outcome: rejected, reason: certificate_revoked }
";

/// The rule ids a scenario's failure names.
fn rules_named(result: &Value) -> String {
    result["failure"].to_string()
}

#[test]
fn readers_that_print_the_verdict_without_the_work_are_not_conformant() {
    let _lock = exclusive();
    let dir = scratch_dir("evidence");
    let verdict = r#"{"outcome":"verified","insurer":"06132013","copay":30,"grace":false,"expiring_soon":false,"consent":{"medication":true,"checkups":true,"surgery":true}}"#;
    // The cheat: no APDU, no request; the line the scenario expects.
    let parrot = script(&dir, "parrot.sh", &format!("echo '{verdict}'"));
    let (code, result, printed) = certify(&parrot, "scenarios/android-verified.yaml");
    assert_eq!(code, Some(1), "{printed}");
    // The verdict itself is right; what fails it is what it rests on.
    assert!(result["steps"][0]["actual"].as_str().unwrap().starts_with("verified, breaking rule E1"), "{result}");
    let named = rules_named(&result);
    for rule in ["E1-certificate-read-whole", "E3-signature-verifies", "E4-crl-fetched-in-tap", "E5-eligibility-asked-for-the-certificate"] {
        assert!(named.contains(rule), "{rule} not named: {named}");
    }
    // A variant that does part of the work: the PIN, then the whole certificate (opensc-tool),
    // then the line. What it did not do is named; what it did is not.
    let reads: Vec<String> = (0..6).map(|block| format!("-s 00B0{:04X}00", block * 256)).collect();
    let reader_body = format!(
        "pin=$(printf %s \"$MYNATAP_PIN\" | od -An -tx1 | tr -d ' \\n')\n\
         opensc-tool -r \"$MYNATAP_READER\" -s 00A4040C0AD392F000260100000001 -s 00A4020C020018 -s 0020008004$pin -s 00A4020C02000A {} >/dev/null 2>&1\n\
         echo '{verdict}'",
        reads.join(" ")
    );
    let half = script(&dir, "reads-only.sh", &reader_body);
    let (code, result, printed) = certify(&half, "scenarios/android-verified.yaml");
    assert_eq!(code, Some(1), "{printed}");
    let named = rules_named(&result);
    assert!(!named.contains("E1-certificate-read-whole"), "the certificate was read: {named}");
    assert!(named.contains("E3-signature-verifies") && named.contains("E5-eligibility-asked-for-the-certificate"), "{named}");
    // The HTML report draws that tap: the commands it did send, decoded, and the first broken rule.
    let html = mynatap()
        .args(["certify", "--fixed-suite-only", "--format", "html", "--reader-cmd", half.to_str().unwrap(), "scenarios/android-verified.yaml"])
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&html.stdout);
    assert!(page.contains("<svg class=\"timeline\"") && page.contains("SELECT JPKI") && page.contains("READ BINARY at 0, 256 bytes"), "{page}");
    // E3 comes first of what it left undone; W11 before it when the bystander probe happened to
    // get in between opensc-tool's commands (it holds the card shared: whether the probe lands
    // before its last command or after is timing).
    assert!(page.contains("first broken: E3-signature-verifies") || page.contains("first broken: W11-card-held-exclusively"), "{page}");
    // A rejection needs its justification too: revoked without the CRL.
    let revoked = script(&dir, "says-revoked.sh", r#"echo '{"outcome":"rejected","reason":"certificate_revoked"}'"#);
    let scenario = dir.join("revoked.yaml");
    std::fs::write(&scenario, REVOKED).unwrap();
    let (code, result, printed) = certify(&revoked, scenario.to_str().unwrap());
    assert_eq!(code, Some(1), "{printed}");
    assert!(result["steps"][1]["actual"].as_str().unwrap().starts_with("rejected: certificate_revoked, breaking rule"), "{result}");
    assert!(rules_named(&result).contains("E1-certificate-read-whole"), "{result}");
}

#[test]
fn a_bystander_querying_the_back_ends_changes_no_verdict() {
    let _lock = exclusive();
    let dir = scratch_dir("bystander");
    let urls = dir.join("urls");
    // The reader is the reference reader; it writes down its URLs so the bystander finds the port.
    // (Readers may run as another user than this test's: the folder is everyone's.)
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let reader = script(
        &dir,
        "reader.sh",
        &format!(
            "sed 's/.*\"eligibility_url\":\"\\([^\"]*\\)\".*/\\1/' \"$MYNATAP_URLS_FILE\" >> {}\nexec {} reference-reader",
            urls.display(),
            env!("CARGO_BIN_EXE_mynatap")
        ),
    );
    let done = AtomicBool::new(false);
    let answered = AtomicUsize::new(0);
    let run = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let address = std::fs::read_to_string(&urls)
                    .ok()
                    .and_then(|text| text.lines().last().and_then(|url| url.strip_prefix("http://")?.split('/').next().map(str::to_owned)));
                if let Some(address) = address {
                    // What a bystander guesses: the paths without the tap's secret, a serial.
                    for path in ["/eligibility?serial=01", "/crl", "/0000/eligibility?serial=01"] {
                        if let Ok(mut stream) = std::net::TcpStream::connect(&address) {
                            use std::io::{Read, Write};
                            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                            let _ = write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
                            let mut answer = String::new();
                            let _ = stream.read_to_string(&mut answer);
                            if answer.starts_with("HTTP/1.1 404") {
                                answered.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let run = mynatap()
            .args([
                "certify",
                "--fixed-suite-only",
                "--reader-cmd",
                reader.to_str().unwrap(),
                "scenarios/android-verified.yaml",
                "scenarios/revoked-device.yaml",
                "scenarios/not-registered.yaml",
                "scenarios/second-phone-added.yaml",
            ])
            .output()
            .unwrap();
        done.store(true, Ordering::Relaxed);
        run
    });
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(text(&run).contains("conformant"), "{}", text(&run));
    assert!(answered.load(Ordering::Relaxed) > 0, "the bystander never reached the back ends");
}
