//! Real PC/SC: pcscd with the vsmartcard vpcd driver, and programs nobody here wrote (OpenSC's
//! opensc-tool, pcsc-tools' scriptor, openssl) talking to the served phone.
//!
//! Needs a running pcscd with vsmartcard-vpcd (scripts/test.sh installs and starts it). All tests
//! share the one daemon and its readers, so they take one lock and run one at a time.

#![cfg(feature = "pcsc")]
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{READER, SELECT_JPKI, ServedCard, exclusive, mynatap, root, scratch_dir, text};

fn opensc(apdus: &[&str]) -> String {
    let mut command = Command::new("opensc-tool");
    command.args(["-r", READER]);
    for apdu in apdus {
        command.args(["-s", apdu]);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    text(&output)
}

/// The data bytes of each `Received` block opensc-tool prints, in order.
fn received_data(output: &str) -> Vec<Vec<u8>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in output.lines() {
        if line.starts_with("Received") {
            if let Some(block) = current.take() {
                blocks.push(block);
            }
            current = Some(Vec::new());
        } else if line.starts_with("Sending") {
            if let Some(block) = current.take() {
                blocks.push(block);
            }
        } else if let Some(block) = current.as_mut() {
            // Hex dump lines: "30 82 01 F6 ... <ascii>", the hex part is 3-char groups.
            for group in line.split_whitespace() {
                match u8::from_str_radix(group, 16) {
                    Ok(byte) if group.len() == 2 => block.push(byte),
                    _ => break,
                }
            }
        }
    }
    if let Some(block) = current {
        blocks.push(block);
    }
    blocks
}

#[test]
fn opensc_tool_lists_the_reader_and_selects_jpki() {
    let _lock = exclusive();
    let _card = ServedCard::start(&["--profile", "android"]);
    let listing = Command::new("opensc-tool").args(["-l"]).output().unwrap();
    assert!(text(&listing).contains(READER));
    let atr = Command::new("opensc-tool").args(["-r", READER, "-a"]).output().unwrap();
    assert!(text(&atr).to_uppercase().contains("3B:8A:80:01"), "{}", text(&atr));
    let select = opensc(&[SELECT_JPKI]);
    assert!(select.contains("SW1=0x90, SW2=0x00"), "{select}");
}

#[test]
fn certificate_read_through_opensc_tool_is_accepted_by_openssl() {
    let _lock = exclusive();
    let _card = ServedCard::start(&["--profile", "iphone"]);
    let head = opensc(&[SELECT_JPKI, "00A4020C02000A", "00B0000004"]);
    let header = received_data(&head).pop().unwrap();
    assert_eq!(&header[..2], &[0x30, 0x82], "{head}");
    let total = usize::from(u16::from_be_bytes([header[2], header[3]])) + 4;
    // READ BINARY in chunks of at most 255 bytes (a short Le), offset in P1-P2.
    let reads: Vec<String> = (0..total).step_by(255).map(|offset| format!("00B0{offset:04X}{:02X}", (total - offset).min(255))).collect();
    let mut apdus = vec![SELECT_JPKI, "00A4020C02000A"];
    apdus.extend(reads.iter().map(String::as_str));
    let output = opensc(&apdus);
    let der: Vec<u8> = received_data(&output).into_iter().skip(2).flatten().collect();
    assert_eq!(der.len(), total, "{output}");
    let file = std::env::temp_dir().join(format!("mynatap-pcsc-{}.der", std::process::id()));
    std::fs::write(&file, &der).unwrap();
    let openssl = Command::new("openssl").args(["x509", "-inform", "DER", "-noout", "-subject", "-in", file.to_str().unwrap()]).output().unwrap();
    assert!(openssl.status.success(), "{}", text(&openssl));
    // The JPKI shape: a country and an opaque 23-character id, no name of the person or device.
    let subject = text(&openssl);
    let id = subject.trim().rsplit("CN = ").next().unwrap_or_default();
    assert!(subject.contains("C = JP, CN = ") && id.len() == 23 && id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()), "{subject}");
}

#[test]
fn scriptor_runs_the_read_sequence() {
    let _lock = exclusive();
    let _card = ServedCard::start(&["--profile", "card"]);
    let script = std::env::temp_dir().join(format!("mynatap-{}.scriptor", std::process::id()));
    std::fs::write(&script, "00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01\n00 A4 02 0C 02 00 06\n00 B0 00 00 20\n").unwrap();
    let output = Command::new("scriptor").args(["-r", READER, script.to_str().unwrap()]).output().expect("scriptor (package pcsc-tools) must be installed");
    let printed = text(&output);
    assert!(output.status.success(), "{printed}");
    // The token label of the physical card, in hex, and a success status.
    assert!(printed.contains("4A 50 4B 49 41 50 49 43 43 54 4F 4B 45 4E 32"), "{printed}");
    assert!(printed.contains("90 00"), "{printed}");
}

#[test]
fn mynatap_tap_verifies_the_served_phone_and_reports_a_wrong_pin() {
    let _lock = exclusive();
    let _card = ServedCard::start(&["--profile", "android", "--pin", "2468"]);
    let tap = mynatap().args(["tap", "--reader", READER, "--os", "android", "--pin", "2468"]).output().unwrap();
    assert_eq!(tap.status.code(), Some(0), "{}", text(&tap));
    assert!(String::from_utf8_lossy(&tap.stdout).starts_with("verified"));
    let wrong = mynatap().args(["tap", "--reader", READER, "--os", "android", "--pin", "0000"]).output().unwrap();
    assert!(String::from_utf8_lossy(&wrong.stdout).contains("wrong_pin"), "{}", text(&wrong));
    // The counter lives as long as serve-card does: the next right PIN resets it.
    let again = mynatap().args(["tap", "--reader", READER, "--os", "android", "--pin", "2468"]).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
}

#[test]
fn iphone_unlock_window_closes() {
    let _lock = exclusive();
    let _card = ServedCard::start(&["--profile", "iphone", "--user-verified-for", "2"]);
    let tap = mynatap().args(["tap", "--reader", READER, "--os", "iphone"]).output().unwrap();
    assert_eq!(tap.status.code(), Some(0), "{}", text(&tap));
    std::thread::sleep(Duration::from_millis(2200));
    let late = mynatap().args(["tap", "--reader", READER, "--os", "iphone"]).output().unwrap();
    assert!(String::from_utf8_lossy(&late.stdout).contains("user_not_verified"), "{}", text(&late));
}

#[test]
fn the_whole_suite_passes_over_pcsc() {
    let _lock = exclusive();
    let run = mynatap().args(["run", "--transport", "pcsc"]).output().unwrap();
    let printed = text(&run);
    assert_eq!(run.status.code(), Some(0), "{printed}");
    assert!(printed.contains("transport pcsc"), "{printed}");
    assert!(printed.contains("0 failed, 0 errors"), "{printed}");
}

/// The whole conformance suite.
fn certification_suite() -> PathBuf {
    root().join("scenarios")
}

#[test]
fn the_reference_reader_certifies_conformant() {
    let _lock = exclusive();
    let suite = certification_suite();
    let reader = format!("{} reference-reader", env!("CARGO_BIN_EXE_mynatap"));
    let run = mynatap().args(["certify", "--reader-cmd", &reader, suite.to_str().unwrap()]).output().unwrap();
    let printed = text(&run);
    assert_eq!(run.status.code(), Some(0), "{printed}");
    assert!(printed.contains("certification: conformant"), "{printed}");
    assert!(printed.contains("fingerprint: sha256:"), "{printed}");
}

#[test]
fn broken_reader_programs_are_adapter_errors_and_the_run_goes_on() {
    let _lock = exclusive();
    let suite = root().join("scenarios/second-phone-added.yaml");
    for (program, expected) in [
        ("sleep 30", "ran past its"),
        ("echo garbage", "not a verdict line"),
        ("sh -c 'exit 3'", "exited with"),
        ("echo '{\"outcome\":\"rejected\",\"reason\":\"sad\"}'", "unknown reason"),
    ] {
        let started = Instant::now();
        let run = mynatap()
            .args([
                "certify",
                "--fixed-suite-only",
                "--reader-cmd",
                program,
                "--tap-timeout-ms",
                "1500",
                suite.to_str().unwrap(),
                "scenarios/iphone-verified.yaml",
            ])
            .output()
            .unwrap();
        let printed = text(&run);
        assert_eq!(run.status.code(), Some(1), "{program}: {printed}");
        assert!(printed.contains("adapter_error") && printed.contains(expected), "{program}: {printed}");
        assert!(printed.contains("not conformant"), "{printed}");
        // Both scenarios were judged: the run went on after the first adapter error.
        assert!(printed.contains("2 scenarios: 0 passed, 2 failed"), "{program}: {printed}");
        assert!(started.elapsed() < Duration::from_secs(20), "{program} took {:?}", started.elapsed());
    }
}

#[test]
fn every_mutant_of_the_reference_reader_is_caught() {
    let _lock = exclusive();
    let suite = certification_suite();
    // Two mutants at a time, each on its own virtual reader.
    let run = mynatap().args(["certify", "--mutants", "--jobs", "2", suite.to_str().unwrap()]).output().unwrap();
    let printed = text(&run);
    assert_eq!(run.status.code(), Some(0), "{printed}");
    let count = mynatap_sim::terminal::Mutant::ALL.len();
    assert!(printed.contains(&format!("{count} mutants: {count} killed, 0 survived")), "{printed}");
    for mutant in [
        "skip-expiry",
        "skip-crl",
        "ignore-hold",
        "skip-signature",
        "accept-any-ca",
        "ignore-phone-support",
        "ignore-os-choice",
        "reuse-challenge",
        "query-before-checks",
        "verify-pin-on-iphone",
        "retry-pin",
    ] {
        assert!(printed.lines().any(|line| line.starts_with(mutant) && !line.contains("SURVIVED")), "{mutant}: {printed}");
    }
    // The back-end and removal defects, each caught by the scenario written for it.
    for (mutant, scenario) in [
        ("crl-fail-open", "backend-crl-unavailable"),
        ("accept-stale-crl", "backend-crl-stale"),
        ("eligibility-fail-open", "backend-eligibility-unavailable"),
        ("retry-after-removal", "fault-removed-mid-tap [W7-no-apdu-after-removal]"),
        ("read-my-number", "[W9-never-the-my-number]"),
        ("grace-for-phones", "expired-certificate"),
        ("no-grace", "expired-certificate"),
        ("no-qualification-as-unregistered", "eligibility-answers"),
        ("skip-record-signature", "forged-cards-face-path"),
        // Every face tap shows it: no challenge answered, no evidence the card is genuine.
        ("skip-card-challenge", "[E10-card-surface-checked]"),
        ("trust-printed-expiry", "printed-expiry-is-not-validity"),
    ] {
        let line = printed.lines().find(|line| line.starts_with(mutant)).unwrap_or_default();
        assert!(line.contains(scenario) && !line.contains("SURVIVED"), "{mutant} not caught by {scenario}: {printed}");
    }
}

/// A reader program as a shell script in a temporary file.
fn script(name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::temp_dir().join(format!("mynatap-test-{}-{name}.sh", std::process::id()));
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn running(pattern: &str) -> bool {
    Command::new("pgrep").args(["-f", pattern]).output().unwrap().status.success()
}

#[test]
fn an_occupied_reader_stops_run_certify_and_tap_with_exit_2() {
    let _lock = exclusive();
    {
        // Another card process left on the reader the harness would use.
        let _other = ServedCard::start(&["--profile", "android"]);
        let reader = format!("{} reference-reader", env!("CARGO_BIN_EXE_mynatap"));
        for args in [vec!["run", "--transport", "pcsc"], vec!["certify", "--reader-cmd", &reader]] {
            let run = mynatap().args(&args).output().unwrap();
            let printed = text(&run);
            assert_eq!(run.status.code(), Some(2), "{args:?}: {printed}");
            assert!(printed.contains("reader `Virtual PCD 00 00` already holds a card"), "{args:?}: {printed}");
            assert!(printed.contains("serve-card --profile android"), "the holder is named: {printed}");
            assert!(!printed.contains("not conformant") && !printed.contains("FAIL"), "nothing was judged: {printed}");
        }
        // `tap` meets a reader another program holds exclusively.
        let mut holder = Command::new("/usr/bin/python3")
            .args(["-c", "from smartcard.System import readers\nfrom smartcard.scard import SCARD_SHARE_EXCLUSIVE\nimport time\nc=[r for r in readers() if str(r)=='Virtual PCD 00 00'][0].createConnection()\nc.connect(mode=SCARD_SHARE_EXCLUSIVE)\nprint('held',flush=True)\ntime.sleep(20)"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.take().unwrap()), &mut line).unwrap();
        assert_eq!(line.trim(), "held");
        let tap = mynatap().args(["tap", "--reader", READER, "--os", "android", "--pin", "1234"]).output().unwrap();
        holder.kill().unwrap();
        holder.wait().unwrap();
        let printed = text(&tap);
        assert_eq!(tap.status.code(), Some(2), "{printed}");
        assert!(printed.contains("Virtual PCD 00 00") && printed.contains("held exclusively by another program"), "{printed}");
    }
    // With the other card gone the same run plays.
    let run = mynatap().args(["run", "--transport", "pcsc", "--filter", "android-verified"]).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
}

#[test]
fn nothing_a_reader_program_starts_outlives_its_tap() {
    let _lock = exclusive();
    let mynatap_bin = env!("CARGO_BIN_EXE_mynatap");
    // One program leaves children behind (one in its group, one in a session of its own, one
    // double-forked into a session of its own) and answers; one leaves a child and hangs past its
    // budget. The first also writes down the environment it was given.
    let env_file = std::env::temp_dir().join(format!("mynatap-reader-env-{}", std::process::id()));
    let answers = script(
        "leaves-child",
        &format!("sleep 299.123 &\nsetsid sleep 297.321 &\n(setsid sleep 296.654 &)\nenv > {}\nexec {mynatap_bin} reference-reader", env_file.display()),
    );
    let hangs = script("leaves-child-and-hangs", "sleep 298.456 &\nsleep 30");
    for (program, code) in [(&answers, 0), (&hangs, 1)] {
        let started = Instant::now();
        let run = mynatap()
            .args([
                "certify",
                "--fixed-suite-only",
                "--reader-cmd",
                program.to_str().unwrap(),
                "--tap-timeout-ms",
                "1500",
                "--reader-env",
                "MYNATAP_TEST_PASSED_ON",
                "scenarios/iphone-verified.yaml",
            ])
            .env("MYNATAP_TEST_SECRET", "a CI secret")
            .env("MYNATAP_TEST_PASSED_ON", "yes")
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(code), "{}", text(&run));
        assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(!running("sleep 299.123"), "a child of the answering reader outlived certify");
    assert!(!running("sleep 298.456"), "a child of the killed reader outlived certify");
    assert!(!running("sleep 297.321"), "a child that called setsid outlived certify");
    assert!(!running("sleep 296.654"), "a double-forked child in its own session outlived certify");
    let environment = std::fs::read_to_string(&env_file).unwrap();
    let names: Vec<&str> = environment.lines().filter_map(|line| line.split_once('=').map(|(name, _)| name)).collect();
    assert!(names.contains(&"MYNATAP_TEST_PASSED_ON") && names.contains(&"PATH") && names.contains(&"MYNATAP_READER"), "{environment}");
    for name in &names {
        let allowed = name.starts_with("MYNATAP_") && *name != "MYNATAP_TEST_SECRET" || ["PATH", "HOME", "LANG", "PWD", "SHLVL", "_", "OLDPWD"].contains(name);
        assert!(allowed, "the reader program was given `{name}`:\n{environment}");
    }
    // A 1.3 reader's URLs carry the tap's token: never in its environment, which other
    // programs of its user can read; in a file only it can read.
    assert!(names.contains(&"MYNATAP_URLS_FILE") && !environment.contains("http://"), "{environment}");
    let _ = std::fs::remove_file(env_file);
    let _ = std::fs::remove_file(answers);
    let _ = std::fs::remove_file(hangs);
}

#[test]
fn malformed_http_during_a_tap_does_not_stop_it_being_judged() {
    let _lock = exclusive();
    // Before reading the card, the program attacks the back ends: a bad method, a huge header,
    // a request that never ends (left open), garbage; each must be answered 4xx or closed in
    // bounded time, and the tap is then judged as usual.
    let hostile = r#"
import os, socket, sys, time
import json
address, token = json.load(open(os.environ["MYNATAP_URLS_FILE"]))["crl_url"][len("http://"):].split("/")[:2]
host, port = address.split(":")
t = token.encode()
def ask(data, keep_open=False):
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(data)
    if keep_open:
        return s
    started = time.monotonic()
    answer = s.recv(64)
    return answer.split(b" ")[1].decode() if answer.startswith(b"HTTP/1.1 ") else "closed", time.monotonic() - started
slow = ask(b"GET /" + t + b"/crl HTTP/1.1\r\nHost: x\r\n", keep_open=True)
results = [ask(b"DELETE /" + t + b"/crl HTTP/1.1\r\n\r\n"), ask(b"GET /" + t + b"/crl HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"),
           ask(b"\x00\xff\xfe garbage\r\n\r\n"), ask(b"GET /" + t + b"/eligibility?serial=zz HTTP/1.1\r\n\r\n")]
print(results, file=sys.stderr)
codes = [code for code, _ in results]
assert codes[0] == "405" and codes[1] in ("431", "closed") and codes[2:] == ["400", "400"], codes
assert all(seconds < 3 for _, seconds in results), results
"#;
    let hostile_path = std::env::temp_dir().join(format!("mynatap-test-{}-hostile.py", std::process::id()));
    std::fs::write(&hostile_path, hostile).unwrap();
    let program = script(
        "hostile-then-reads",
        &format!("/usr/bin/python3 {} || exit 7\nexec {} reference-reader", hostile_path.display(), env!("CARGO_BIN_EXE_mynatap")),
    );
    let run = mynatap()
        .args([
            "certify",
            "--fixed-suite-only",
            "--reader-cmd",
            program.to_str().unwrap(),
            "scenarios/iphone-verified.yaml",
            "scenarios/backend-crl-stale.yaml",
        ])
        .output()
        .unwrap();
    let printed = text(&run);
    assert_eq!(run.status.code(), Some(0), "{printed}");
    assert!(printed.contains("2 scenarios: 2 passed"), "{printed}");
    let _ = std::fs::remove_file(program);
    let _ = std::fs::remove_file(hostile_path);
}

#[test]
fn the_python_example_reader_certifies_conformant() {
    let _lock = exclusive();
    let suite = certification_suite();
    let reader = format!("/usr/bin/python3 {}", root().join("examples/python-reader/reader.py").display());
    let run = mynatap().args(["certify", "--reader-cmd", &reader, suite.to_str().unwrap()]).output().unwrap();
    let printed = text(&run);
    assert_eq!(run.status.code(), Some(0), "{printed}");
    assert!(printed.contains("certification: conformant"), "{printed}");
}

/// A reader written for contract 1.1 is judged by 1.1: scenarios using 1.2's features are not
/// applicable, a 1.1 file keeps its meaning (no grace), and the reader is told its version.
#[test]
fn a_reader_declaring_contract_1_1_is_judged_by_1_1() {
    let _lock = exclusive();
    let reader = format!("{} reference-reader", env!("CARGO_BIN_EXE_mynatap"));
    let files = ["contract-1-1-no-grace.yaml", "eligibility-answers.yaml", "grace-card-not-phone.yaml", "fault-removed-mid-tap.yaml"];
    let paths: Vec<String> = files.iter().map(|file| root().join("scenarios").join(file).display().to_string()).collect();
    let run = mynatap().args(["certify", "--contract", "1.1", "--reader-cmd", &reader]).args(&paths).output().unwrap();
    let printed = text(&run);
    assert_eq!(run.status.code(), Some(0), "{printed}");
    assert!(printed.contains("2 scenarios not applicable"), "{printed}");
    assert!(printed.contains("needs contract 1.2 (`insurance.status`); the reader declares 1.1"), "{printed}");
    assert!(printed.contains("needs contract 1.2 (`expect.expiring_soon`)"), "{printed}");
    // The 1.1 mutant that refuses every grace is no worse by 1.1's rules: conformant too.
    let no_grace = format!("{reader} --mutant no-grace");
    let run = mynatap().args(["certify", "--contract", "1.1", "--reader-cmd", &no_grace]).args(&paths).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let bad = mynatap().args(["certify", "--contract", "0.9", "--reader-cmd", &reader]).args(&paths).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(text(&bad).contains("--contract: unknown version `0.9`"), "{}", text(&bad));
}

/// OpenSC, the public JPKI driver, uses the served physical card as it uses a real one:
/// pkcs15-tool reads the certificate, pkcs11-tool logs in and signs with SHA256-RSA-PKCS, and
/// openssl verifies that signature with the certificate's key; a wrong PIN is CKR_PIN_INCORRECT
/// and spends a try.
#[test]
fn opensc_pkcs11_signs_with_the_rsa_card_and_openssl_verifies() {
    let _lock = exclusive();
    let _card = ServedCard::start(&["--profile", "card"]);
    let module =
        ["/usr/lib/x86_64-linux-gnu/pkcs11/opensc-pkcs11.so", "/usr/lib/aarch64-linux-gnu/pkcs11/opensc-pkcs11.so", "/usr/lib/pkcs11/opensc-pkcs11.so"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .expect("opensc-pkcs11.so (package opensc) must be installed");
    let scratch = std::env::temp_dir().join(format!("mynatap-opensc-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let (data, signature, certificate, public_key) = (scratch.join("data.txt"), scratch.join("sig.bin"), scratch.join("cert.pem"), scratch.join("pub.pem"));
    std::fs::write(&data, b"tap-to-verify challenge").unwrap();
    let name = Command::new("opensc-tool").args(["-r", READER, "-n"]).output().unwrap();
    assert!(text(&name).contains("jpki"), "{}", text(&name));
    let listed = Command::new("pkcs15-tool").args(["--reader", READER, "--list-certificates"]).output().unwrap();
    assert!(text(&listed).contains("User Authentication Certificate"), "{}", text(&listed));
    let read = Command::new("pkcs15-tool").args(["--reader", READER, "--read-certificate", "01", "-o", certificate.to_str().unwrap()]).output().unwrap();
    assert!(read.status.success(), "{}", text(&read));
    let pkcs11 = |pin: &str, out: &PathBuf| {
        Command::new("pkcs11-tool")
            .args(["--module", module, "--login", "--pin", pin, "--sign", "--mechanism", "SHA256-RSA-PKCS", "--id", "01"])
            .args(["-i", data.to_str().unwrap(), "-o", out.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let signed = pkcs11("1234", &signature);
    assert!(signed.status.success(), "{}", text(&signed));
    assert_eq!(std::fs::read(&signature).unwrap().len(), 256, "an RSA-2048 signature");
    let key = Command::new("openssl")
        .args(["x509", "-in", certificate.to_str().unwrap(), "-pubkey", "-noout", "-out", public_key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(key.status.success(), "{}", text(&key));
    let verified = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", public_key.to_str().unwrap(), "-signature", signature.to_str().unwrap(), data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(text(&verified).contains("Verified OK"), "{}", text(&verified));
    let refused = pkcs11("9999", &scratch.join("refused.bin"));
    assert!(!refused.status.success() && text(&refused).contains("CKR_PIN_INCORRECT"), "{}", text(&refused));
    let pins = Command::new("pkcs15-tool").args(["--reader", READER, "--list-pins"]).output().unwrap();
    assert!(text(&pins).contains("Tries left     : 2"), "the wrong PIN spent a try: {}", text(&pins));
    let _ = std::fs::remove_dir_all(scratch);
}

/// jpki-cli (crates.io, built on jpki-rs), a client written for real cards, reads the served
/// card: the user-authentication certificate, and through the card-surface application opened
/// with verification number B, the face image. It asks for number B on a terminal, so it is
/// driven through a pseudo-terminal. scripts/test.sh installs it (`MYNATAP_JPKI_CLI`).
#[test]
fn jpki_cli_reads_the_certificate_and_the_face_through_number_b() {
    let jpki_cli = std::env::var("MYNATAP_JPKI_CLI")
        .ok()
        .or_else(|| Some(root().join("target/tools/bin/jpki-cli").display().to_string()).filter(|path| std::path::Path::new(path).exists()))
        .expect("jpki-cli is not installed: run scripts/test.sh, or `cargo install jpki-cli --version 0.4.3 --locked --root target/tools`");
    let _lock = exclusive();
    let _card = ServedCard::start(&["--profile", "card"]);
    let certificate = Command::new(&jpki_cli).args(["crypto", "-a", "read-certificate"]).stdin(Stdio::null()).output().unwrap();
    assert!(certificate.status.success(), "{}", text(&certificate));
    assert_eq!(certificate.stdout, std::fs::read(root().join("fixtures/pki/demo-card-auth.der")).unwrap(), "the demo card's certificate");
    // Type number B at jpki-cli's prompt on a pseudo-terminal; the image goes to a file.
    let driver = r#"
import os, pty, select, sys, time
binary, out_path, pin = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.dup2(os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
    os.execv(binary, [binary] + sys.argv[4:])
seen, sent, deadline = b"", False, time.monotonic() + 20
while time.monotonic() < deadline:
    if select.select([fd], [], [], 0.2)[0]:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    if not sent and b"pin" in seen.lower():
        time.sleep(0.1)
        os.write(fd, pin.encode() + b"\r")
        sent = True
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        sys.exit(os.waitstatus_to_exitcode(status))
# The terminal closed (the program ended) or the time is up.
if time.monotonic() >= deadline:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
sys.stderr.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status) or (3 if time.monotonic() >= deadline else 0))
"#;
    let scratch = std::env::temp_dir().join(format!("mynatap-jpki-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let (driver_path, photo) = (scratch.join("drive.py"), scratch.join("photo.jp2"));
    std::fs::write(&driver_path, driver).unwrap();
    // The demo card: born 1990-05-12 (平成2: 020512), card expiring in 2030, security code 0000.
    let read = Command::new("/usr/bin/python3")
        .args([driver_path.to_str().unwrap(), &jpki_cli, photo.to_str().unwrap(), "02051220300000", "surface", "get", "photo"])
        .output()
        .unwrap();
    assert!(read.status.success(), "{}", text(&read));
    assert_eq!(std::fs::read(&photo).unwrap(), mynatap_sim::card::surface::FACE_IMAGE_JP2, "the face image, as the card holds it");
    let _ = std::fs::remove_dir_all(scratch);
}

/// Imports a capture, runs the scenario, replays the capture: all must pass.
fn import_run_replay(capture: &std::path::Path, profile: &str, dir: &std::path::Path) {
    let scenario = dir.join("imported.yaml");
    let import = mynatap().args(["capture", "import"]).arg(capture).arg("-o").arg(&scenario).output().unwrap();
    assert_eq!(import.status.code(), Some(0), "{}", text(&import));
    let run = mynatap().arg("run").arg(&scenario).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}\n{}", text(&run), std::fs::read_to_string(&scenario).unwrap());
    let replay = mynatap().args(["capture", "replay"]).arg(capture).args(["--profile", profile]).output().unwrap();
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay));
}

#[test]
fn a_tap_recorded_by_serve_card_imports_runs_and_replays() {
    let _lock = exclusive();
    let dir = scratch_dir("record");
    let recording = dir.join("tap.jsonl");
    {
        let _card = ServedCard::start(&["--profile", "android", "--record", &recording.display().to_string()]);
        let tap = mynatap().args(["tap", "--os", "android"]).output().unwrap();
        assert_eq!(tap.status.code(), Some(0), "{}", text(&tap));
    }
    let recorded = std::fs::read_to_string(&recording).unwrap();
    // The probe of ServedCard::start is a power-up of its own; the tap's commands follow.
    assert!(recorded.lines().any(|line| line.contains("\"command\":\"802A")), "{recorded}");
    import_run_replay(&recording, "android", &dir);
    // One status word changed: exit 1, naming the command and both answers.
    let changed = recorded.replacen("\"command\":\"002000800431323334\",\"response\":\"9000\"", "\"command\":\"002000800431323334\",\"response\":\"6983\"", 1);
    assert_ne!(changed, recorded);
    let tampered = dir.join("tampered.jsonl");
    std::fs::write(&tampered, changed).unwrap();
    let replay = mynatap().args(["capture", "replay"]).arg(&tampered).args(["--profile", "android"]).output().unwrap();
    let printed = text(&replay);
    assert_eq!(replay.status.code(), Some(1), "{printed}");
    assert!(printed.contains("002000800431323334") && printed.contains("recorded: 6983") && printed.contains("answered: 9000"), "{printed}");
}

#[test]
fn certify_records_every_scenario_and_the_recordings_replay() {
    let _lock = exclusive();
    let dir = scratch_dir("certify-record");
    let reader = format!("{} reference-reader", env!("CARGO_BIN_EXE_mynatap"));
    let certify = mynatap().args(["certify", "--reader-cmd", &reader, "--filter", "verified", "--record"]).arg(&dir).output().unwrap();
    assert_eq!(certify.status.code(), Some(0), "{}", text(&certify));
    let android = dir.join("android-verified.jsonl");
    let recorded = std::fs::read_to_string(&android).unwrap();
    assert!(
        recorded.lines().all(|line| line.contains("\"tap\":\"android-verified#1\"") && line.contains("\"time\":\"2026-04-01T09:00:00+09:00\"")),
        "{recorded}"
    );
    import_run_replay(&android, "android", &dir);
}

/// pcsc-spy on Debian 12 (pcsc-lite 1.9.9) logs a client that passes a receive PCI: a C reader
/// built here. (`mynatap tap` and pyscard pass none, and that libpcscspy crashes on them: see
/// docs/protocol.md.)
#[test]
fn a_pcsc_spy_capture_of_a_c_reader_imports_runs_and_replays() {
    let _lock = exclusive();
    let dir = scratch_dir("spy");
    let client = dir.join("spy_client");
    let flags = Command::new("pkg-config").args(["--cflags", "--libs", "libpcsclite"]).output().expect("pkg-config (scripts/test.sh installs it)");
    let flags: Vec<String> = String::from_utf8_lossy(&flags.stdout).split_whitespace().map(str::to_owned).collect();
    let cc = Command::new("cc").arg("-o").arg(&client).arg(root().join("harness/tests/support/spy_client.c")).args(&flags).output().expect("a C compiler (cc)");
    assert!(cc.status.success(), "{}", text(&cc));
    let _card = ServedCard::start(&["--profile", "android"]);
    // pcsc-spy reads the fifo $HOME/pcsc-spy that libpcscspy writes to; a private HOME keeps
    // this test's fifo its own.
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let log = dir.join("spy.log");
    let spy = Command::new("pcsc-spy")
        .args(["--nocolor"])
        .env("HOME", &home)
        .env("PYTHONUNBUFFERED", "1")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("pcsc-spy (package libpcsclite-dev)");
    let mut spy = ServedCard(spy);
    let fifo = home.join("pcsc-spy");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !fifo.exists() {
        assert!(Instant::now() < deadline, "pcsc-spy made no fifo");
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = Command::new(&client).arg(READER).env("HOME", &home).env("LD_PRELOAD", "libpcscspy.so.0").output().unwrap();
    assert!(run.status.success(), "{}", text(&run));
    // pcsc-spy ends when the client closes the fifo.
    let deadline = Instant::now() + Duration::from_secs(5);
    while spy.0.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(spy);
    let captured = std::fs::read_to_string(&log).unwrap();
    // The client's flow, with the certificate read in five 255-byte chunks (it carries the JPKI
    // extension set).
    assert_eq!(captured.matches("\nSCardTransmit\n").count(), 14, "{captured}");
    import_run_replay(&log, "android", &dir);
}

/// A bystander on the same machine that connects to the reader in shared mode around and during
/// taps and sends SELECT + VERIFY '0000' (it would burn the patient's PIN tries and break W6) is
/// refused by pcscd while a contract 1.3 reader holds the card exclusively; what it sends while
/// the reader does not hold it is kept apart and undone; the honest reader's verdicts do not
/// change. A reader that connects shared is caught by W11 (the `shared-connect` mutant).
#[test]
fn a_bystander_cannot_reach_the_card_of_an_exclusive_reader() {
    use mynatap_drivers::pcsc_transport::{Holding, PcscTransport, holding};
    use mynatap_sim::transport::{Transport, TransportError};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let _lock = exclusive();
    // PIN tries counted to the last one, and taps that must be rejected (W1, W6 would show any
    // command of the bystander's taken for the reader's).
    let scenarios =
        ["scenarios/android-pin-blocked.yaml", "scenarios/physical-card-pin.yaml", "scenarios/iphone-verified.yaml", "scenarios/revoked-device.yaml"];
    let (done, refused, reached) = (AtomicBool::new(false), AtomicUsize::new(0), AtomicUsize::new(0));
    let run = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                // Whenever someone holds the card: during the reader's tap, and in the moments
                // around it (the harness's readiness probe, the reader's connect and release).
                if matches!(holding(READER), Ok(Holding::Exclusive | Holding::Shared)) {
                    match PcscTransport::connect_shared(Some(READER), Duration::ZERO, Duration::from_millis(500)) {
                        // In only as the reader lets go (or if it held the card shared).
                        Ok(mut card) => {
                            reached.fetch_add(1, Ordering::Relaxed);
                            let _ = card.transmit(&[0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01]);
                            let _ = card.transmit(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18]);
                            let _ = card.transmit(&[0x00, 0x20, 0x00, 0x80, 0x04, 0x30, 0x30, 0x30, 0x30]);
                        }
                        Err(TransportError::ReaderBusy) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {}
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        let reader = format!("{} reference-reader", env!("CARGO_BIN_EXE_mynatap"));
        let run = mynatap().args(["certify", "--reader-cmd", &reader]).args(scenarios).output().unwrap();
        done.store(true, Ordering::Relaxed);
        run
    });
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(refused.load(Ordering::Relaxed) > 0, "the bystander never tried while the reader held the card");
    // How often it got in around the taps (kept apart and undone); for people reading the log.
    eprintln!("bystander: refused {} times, in {} times", refused.load(Ordering::Relaxed), reached.load(Ordering::Relaxed));
    // The shared-connect mutant lets a bystander in, and W11 says so on the taps where the
    // harness's probe landed between its commands.
    let mutant = format!("{} reference-reader --mutant shared-connect", env!("CARGO_BIN_EXE_mynatap"));
    let run = mynatap().args(["certify", "--reader-cmd", &mutant]).args(scenarios).output().unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(text(&run).contains("W11-card-held-exclusively"), "{}", text(&run));
}
