//! What a certification hands on, end to end over real PC/SC: a conformance statement that makes
//! scenarios not applicable, waivers and graded verdicts, the HTML report in a real browser, the
//! signed bundle (verified, tampered with, re-signed), and the comparison with a baseline.
//!
//! Needs pcscd with vsmartcard-vpcd (two readers), openssl and chromium (scripts/test.sh).

#![cfg(feature = "pcsc")]
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use support::{exclusive, mynatap, root, scratch_dir, sign_again, text};

fn reference_reader(mutant: Option<&str>) -> String {
    let mut command = format!("{} reference-reader", env!("CARGO_BIN_EXE_mynatap"));
    if let Some(mutant) = mutant {
        command.push_str(&format!(" --mutant {mutant}"));
    }
    command
}

/// An Ed25519 key pair as openssl writes it: (private PKCS#8 PEM, public SPKI PEM).
fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (private, public) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.pub")));
    let made = Command::new("openssl").args(["genpkey", "-algorithm", "ed25519", "-out"]).arg(&private).output().expect("openssl must be installed");
    assert!(made.status.success(), "{}", text(&made));
    let public_made = Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&private).arg("-out").arg(&public).output().unwrap();
    assert!(public_made.status.success(), "{}", text(&public_made));
    (private, public)
}

/// The whole suite certified once for a reader without the iPhone path, on two readers, with a
/// signed bundle: (scratch folder, bundle, public key, JSON report, exit code, what it printed).
struct NoIphoneRun {
    dir: PathBuf,
    bundle: PathBuf,
    public_key: PathBuf,
    private_key: PathBuf,
    report: Value,
    code: Option<i32>,
    printed: String,
}

fn no_iphone_run() -> &'static NoIphoneRun {
    static RUN: OnceLock<NoIphoneRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let _lock = exclusive();
        let dir = scratch_dir("certification");
        let (private_key, public_key) = key_pair(&dir, "certifier");
        let bundle = dir.join("bundle");
        let output = dir.join("report.json");
        let run = mynatap()
            .args([
                "certify",
                "--reader-cmd",
                &reference_reader(None),
                "--statement",
                "examples/statements/no-iphone.yaml",
                "--jobs",
                "2",
                "--format",
                "json",
                "--output",
            ])
            .arg(&output)
            .arg("--bundle")
            .arg(&bundle)
            .arg("--signing-key")
            .arg(&private_key)
            .output()
            .unwrap();
        let printed = text(&run);
        let report = serde_json::from_str(&std::fs::read_to_string(&output).unwrap_or_default()).unwrap_or(Value::Null);
        NoIphoneRun { dir, bundle, public_key, private_key, report, code: run.status.code(), printed }
    })
}

#[test]
fn a_reader_without_the_iphone_path_is_conformant_for_what_it_claims() {
    let run = no_iphone_run();
    assert_eq!(run.code, Some(0), "{}", run.printed);
    let certification = &run.report["certification"];
    assert_eq!(certification["verdict"], "conformant", "{}", run.printed);
    let sentence = certification["verdict_text"].as_str().unwrap();
    assert!(
        sentence.starts_with("conformant for android, card-pin, card-face; ") && sentence.ends_with("scenarios not applicable; with 32 generated lives"),
        "{sentence}"
    );
    let scenarios = run.report["scenarios"].as_array().unwrap();
    let status = |id: &str| scenarios.iter().find(|s| s["id"] == id).map(|s| s["status"].as_str().unwrap().to_owned()).unwrap();
    // Every iPhone scenario is not applicable, with the reason; Android and card ones were played.
    assert_eq!(status("iphone-verified"), "not_applicable");
    let note = scenarios.iter().find(|s| s["id"] == "iphone-verified").unwrap()["note"].as_str().unwrap();
    assert!(note.contains("needs iphone"), "{note}");
    assert_eq!(status("android-verified"), "passed");
    assert_eq!(status("physical-card-pin"), "passed");
    assert_eq!(status("face-recognition"), "passed");
    let not_applicable = run.report["summary"]["not_applicable"].as_u64().unwrap();
    // The iPhone scenarios, and the generated lives that need an iPhone.
    assert!((5..90).contains(&not_applicable), "{not_applicable}");
    assert!(scenarios.iter().filter(|s| s["id"].as_str().unwrap().starts_with("explore-")).count() == 32, "the generated lives are in the report");
    assert_eq!(run.report["summary"]["failed"], 0);
    assert!(sentence.contains(&format!("{not_applicable} scenarios not applicable")), "{sentence}");
    // Played on both readers.
    assert!(run.printed.contains("on 2 reader(s)"), "{}", run.printed);
}

#[test]
fn the_signed_bundle_verifies_and_names_any_file_changed_after_signing() {
    let run = no_iphone_run();
    assert_eq!(run.code, Some(0), "{}", run.printed);
    let verify = |bundle: &Path, key: &Path| {
        let output = mynatap().args(["bundle", "verify"]).arg(bundle).arg("--public-key").arg(key).output().unwrap();
        (output.status.code(), text(&output))
    };
    let (code, printed) = verify(&run.bundle, &run.public_key);
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains("verified") && printed.contains("judged again") && printed.contains("conformant"), "{printed}");
    // Tools an auditor has anyway agree: sha256sum and openssl.
    let sums = Command::new("sha256sum").args(["--quiet", "-c", "MANIFEST.sha256"]).current_dir(&run.bundle).output().unwrap();
    assert!(sums.status.success(), "{}", text(&sums));
    let signature = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-in", "MANIFEST.sha256", "-sigfile", "MANIFEST.sha256.sig", "-inkey"])
        .arg(&run.public_key)
        .current_dir(&run.bundle)
        .output()
        .unwrap();
    assert!(text(&signature).contains("Signature Verified Successfully"), "{}", text(&signature));

    let copy = |name: &str| {
        let target = run.dir.join(name);
        let _ = std::fs::remove_dir_all(&target);
        let copied = Command::new("cp").arg("-r").arg(&run.bundle).arg(&target).output().unwrap();
        assert!(copied.status.success());
        target
    };
    // A transcript, a verdict, a scenario: each edit is exit 1 naming the file.
    for (file, from, to) in [
        ("evidence/expired-certificate.json", "certificate_expired", "certificate_revoked"),
        ("results.json", "\"verdict\": \"conformant\"", "\"verdict\": \"not conformant\""),
        ("scenarios/android-verified.yaml", "android", "iphone"),
    ] {
        let tampered = copy("tampered");
        let path = tampered.join(file);
        let original = std::fs::read_to_string(&path).unwrap();
        assert!(original.contains(from), "{file} has no `{from}`");
        std::fs::write(&path, original.replacen(from, to, 1)).unwrap();
        let (code, printed) = verify(&tampered, &run.public_key);
        assert_eq!(code, Some(1), "{file}: {printed}");
        assert!(printed.contains(&format!("DOES NOT VERIFY: {file}: ")), "{file}: {printed}");
    }
    // An added file, and another key.
    let added = copy("added");
    std::fs::write(added.join("evidence/extra.json"), "{}").unwrap();
    let (code, printed) = verify(&added, &run.public_key);
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("evidence/extra.json: not in the signed manifest"), "{printed}");
    let (_, other_public) = key_pair(&run.dir, "other");
    let (code, printed) = verify(&run.bundle, &other_public);
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("MANIFEST.sha256: the signature does not verify"), "{printed}");

    // A certifier who edits a transcript and signs again is caught by judging the evidence again.
    let (code, printed) = lie(run, "resigned", |bundle| {
        edit_json(&bundle.join("evidence/expired-certificate.json"), |record| {
            let tap = record["taps"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .find(|tap| tap["verdict"].as_str().is_some_and(|v| v.contains("certificate_expired")))
                .unwrap();
            tap["verdict"] = Value::from("{\"outcome\":\"verified\",\"insurer\":\"06132013\"}");
        });
    });
    assert_eq!(code, Some(1), "{printed}");
    assert!(
        printed.contains("evidence/expired-certificate.json: judged again, scenario `expired-certificate` is failed, but results.json records passed"),
        "{printed}"
    );

    let (code, printed) = verify(&run.dir.join("no-such-bundle"), &run.public_key);
    assert_eq!(code, Some(2), "{printed}");
}

#[test]
fn the_html_report_renders_in_headless_chromium_with_the_verdict_first() {
    let run = no_iphone_run();
    assert_eq!(run.code, Some(0), "{}", run.printed);
    let page = run.bundle.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("src=") && !html.contains("href=") && !html.contains("<script"), "the page fetches nothing and runs nothing");
    assert!(html.contains("<svg id=\"latency\""), "the latency picture is inline SVG");
    let chromium = |extra: &[&str]| {
        let profile = scratch_dir("chromium-profile");
        let output = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium must be installed (scripts/test.sh installs it)");
        assert!(output.status.success(), "{}", text(&output));
        output
    };
    let dom = String::from_utf8(chromium(&["--dump-dom"]).stdout).unwrap();
    let verdict = "conformant for android, card-pin, card-face;";
    let body = dom.split("<body>").nth(1).unwrap_or_default();
    // The verdict is the first thing in the page: on the first screen.
    assert!(body.trim_start().starts_with("<section id=\"verdict\""), "{}", body.get(..300).unwrap_or(body));
    assert!(body.get(..600).unwrap_or(body).contains(verdict), "{}", body.get(..600).unwrap_or(body));
    assert!(dom.contains("<table id=\"scenarios\"") && dom.contains("<table id=\"coverage\""), "tables render");
    let shot = run.dir.join("report.png");
    chromium(&[&format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(png.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]));
    let (width, height) = (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
    assert_eq!((width, height), (1280, 900));
    // A blank page compresses to a few KiB; text, tables and colours do not.
    assert!(png.len() > 20_000, "screenshot of {} bytes: nothing rendered?", png.len());
}

/// A failing reader, certified on a few scenarios with waivers and a baseline.
#[test]
fn waivers_grade_the_verdict_and_a_baseline_lists_regressions() {
    let run = no_iphone_run();
    assert_eq!(run.code, Some(0), "{}", run.printed);
    let _lock = exclusive();
    let dir = scratch_dir("waivers");
    let scenarios = ["scenarios/expired-certificate.yaml", "scenarios/android-verified.yaml", "scenarios/physical-card-pin.yaml"];
    let certify = |waivers: Option<&Path>, extra: &[&str]| {
        let mut command = mynatap();
        command
            .args(["certify", "--fixed-suite-only", "--reader-cmd", &reference_reader(Some("skip-expiry")), "--today", "2026-11-25", "--format", "json"])
            .args(scenarios)
            .args(extra);
        if let Some(waivers) = waivers {
            command.arg("--waivers").arg(waivers);
        }
        let output = command.output().unwrap();
        let report: Value = serde_json::from_str(&String::from_utf8_lossy(&output.stdout)).unwrap_or(Value::Null);
        (output.status.code(), report, text(&output))
    };
    let (code, report, printed) = certify(None, &[]);
    assert_eq!(code, Some(1), "{printed}");
    assert_eq!(report["certification"]["verdict"], "not conformant", "{printed}");

    let waivers = dir.join("waivers.yaml");
    std::fs::write(
        &waivers,
        "mynatap_waivers: 1\nwaivers:\n  - scenario: expired-certificate\n    reason: fixed in 2.5 (ticket CR-7)\n    expires: 2026-12-31\n  - scenario: android-verified\n    reason: not needed\n    expires: 2026-12-31\n",
    )
    .unwrap();
    let (code, report, printed) = certify(Some(&waivers), &[]);
    assert_eq!(code, Some(0), "{printed}");
    assert_eq!(report["certification"]["verdict"], "conformant with waivers", "{printed}");
    assert_eq!(report["certification"]["verdict_text"], "conformant with waivers (1 waived); fixed suite only");
    let expired = report["scenarios"].as_array().unwrap().iter().find(|s| s["id"] == "expired-certificate").unwrap();
    assert_eq!(expired["status"], "waived");
    assert!(expired["note"].as_str().unwrap().contains("ticket CR-7"));
    let flags = report["certification"]["flags"].to_string();
    assert!(flags.contains("`android-verified` is not needed"), "{flags}");

    std::fs::write(&waivers, std::fs::read_to_string(&waivers).unwrap().replace("2026-12-31", "2026-01-31")).unwrap();
    let (code, report, printed) = certify(Some(&waivers), &[]);
    assert_eq!(code, Some(1), "{printed}");
    assert!(report["certification"]["flags"].to_string().contains("`expired-certificate` expired on 2026-01-31"), "{printed}");

    // The baseline passed expired-certificate; this reader fails it: a regression, exit 1.
    let (code, _, printed) = certify(Some(&waivers), &["--baseline", run.bundle.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("baseline: expired-certificate passed -> failed  REGRESSION"), "{printed}");
    assert!(printed.contains("regression(s)"), "{printed}");
}

#[test]
fn statements_and_bundles_refuse_bad_input_with_exit_2() {
    let dir = scratch_dir("bad-input");
    let empty = dir.join("empty.yaml");
    std::fs::write(&empty, "mynatap_statement: 1\nreader: {name: R, version: '1'}\npaths: []\nkey_algorithms: [p256]\n").unwrap();
    let reader = reference_reader(None);
    let run = mynatap().args(["certify", "--reader-cmd", &reader, "--statement"]).arg(&empty).output().unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(text(&run).contains("claims nothing"), "{}", text(&run));
    let not_a_key = dir.join("key.pem");
    std::fs::write(&not_a_key, "hello").unwrap();
    let run = mynatap().args(["certify", "--reader-cmd", &reader, "--bundle"]).arg(dir.join("b")).arg("--signing-key").arg(&not_a_key).output().unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(text(&run).contains("openssl genpkey -algorithm ed25519"), "{}", text(&run));
    let run = mynatap().args(["certify", "--reader-cmd", &reader, "--bundle"]).arg(dir.join("b")).output().unwrap();
    assert_eq!(run.status.code(), Some(2), "--bundle needs --signing-key: {}", text(&run));
    assert!(root().join("examples/statements/full.yaml").is_file());
}

/// Copies the bundle, lets `edit` change it, and signs it again with the certifier's own key, as
/// a dishonest certifier would: (exit code, what verify printed).
fn lie(run: &NoIphoneRun, name: &str, edit: impl FnOnce(&Path)) -> (Option<i32>, String) {
    let target = run.dir.join(format!("lie-{name}"));
    let _ = std::fs::remove_dir_all(&target);
    assert!(Command::new("cp").arg("-r").arg(&run.bundle).arg(&target).status().unwrap().success());
    edit(&target);
    sign_again(&target, &run.private_key);
    let output = mynatap().args(["bundle", "verify"]).arg(&target).arg("--public-key").arg(&run.public_key).output().unwrap();
    (output.status.code(), text(&output))
}

fn edit_json(path: &Path, change: impl FnOnce(&mut Value)) {
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    change(&mut value);
    std::fs::write(path, serde_json::to_string_pretty(&value).unwrap() + "\n").unwrap();
}

#[test]
fn re_signed_bundles_that_lie_do_not_verify() {
    let run = no_iphone_run();
    assert_eq!(run.code, Some(0), "{}", run.printed);
    // Every field results.json states, edited and signed again.
    type Edit = Box<dyn Fn(&mut Value)>;
    let edits: [(&str, &str, Edit); 10] = [
        ("fixed-only", "/certification/conditions/lives", Box::new(|r| r["certification"]["conditions"]["lives"] = Value::from("fixed_suite_only"))),
        ("fewer-lives", "/certification/conditions/lives", Box::new(|r| r["certification"]["conditions"]["lives"]["added"]["count"] = Value::from(3))),
        ("judged-on", "/certification/judged_on", Box::new(|r| r["certification"]["judged_on"] = Value::from("2020-01-01"))),
        ("seed", "/seed", Box::new(|r| r["seed"] = Value::from(1))),
        ("summary", "/summary/passed", Box::new(|r| r["summary"]["passed"] = Value::from(r["summary"]["passed"].as_u64().unwrap() + 1))),
        ("fingerprint", "/certification/fingerprint", Box::new(|r| r["certification"]["fingerprint"] = Value::from(format!("sha256:{}", "0".repeat(64))))),
        ("flags", "/certification/flags", Box::new(|r| r["certification"]["flags"] = serde_json::json!(["all good"]))),
        ("suite", "/suite", Box::new(|r| r["suite"] = Value::from("the vendor's own suite (500 scenarios)"))),
        ("statement", "/certification/statement/reader_name", Box::new(|r| r["certification"]["statement"]["reader_name"] = Value::from("Another Reader"))),
        ("step", "/scenarios/", Box::new(|r| r["scenarios"][0]["steps"][0]["actual"] = Value::from("verified (trust me)"))),
    ];
    for (name, pointer, change) in edits {
        let (code, printed) = lie(run, name, |bundle| edit_json(&bundle.join("results.json"), change));
        assert_eq!(code, Some(1), "{name}: {printed}");
        assert!(printed.contains(&format!("DOES NOT VERIFY: results.json: {pointer}")), "{name}: {printed}");
    }
    // The HTML report rewritten.
    let (code, printed) = lie(run, "html", |bundle| {
        let html = std::fs::read_to_string(bundle.join("report.html")).unwrap();
        std::fs::write(bundle.join("report.html"), html.replace("not applicable", "excellent")).unwrap();
    });
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("DOES NOT VERIFY: report.html: differs from the report the evidence gives"), "{printed}");
    // Every tap's APDUs and requests stripped: the verdicts no longer rest on anything.
    let (code, printed) = lie(run, "stripped", |bundle| {
        for entry in std::fs::read_dir(bundle.join("evidence")).unwrap() {
            edit_json(&entry.unwrap().path(), |record| {
                for tap in record["taps"].as_array_mut().unwrap() {
                    tap["apdus"] = serde_json::json!([]);
                    tap["http"] = serde_json::json!([]);
                }
            });
        }
    });
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("judged again, scenario") && printed.contains("is failed, but results.json records passed"), "{printed}");
    // A scenario dropped from the index, the results and the evidence: the suite still holds it,
    // so the bundle is partial, and results.json does not say so.
    let (code, printed) = lie(run, "dropped", |bundle| {
        let mut dropped = String::new();
        edit_json(&bundle.join("bundle.json"), |index| {
            let scenarios = index["scenarios"].as_array_mut().unwrap();
            let gone = scenarios.remove(0);
            dropped = gone["id"].as_str().unwrap().to_owned();
            std::fs::remove_file(bundle.join(gone["evidence"].as_str().unwrap())).unwrap();
        });
        edit_json(&bundle.join("results.json"), |results| {
            results["scenarios"].as_array_mut().unwrap().retain(|s| s["id"] != dropped.as_str());
        });
    });
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("DOES NOT VERIFY: results.json: "), "{printed}");
    // An index pointing outside the bundle, at a file nobody signed.
    let (code, printed) = lie(run, "outside", |bundle| {
        edit_json(&bundle.join("bundle.json"), |index| index["scenarios"][0]["evidence"] = Value::from("../../outside.json"));
    });
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("DOES NOT VERIFY") && printed.contains("outside.json"), "{printed}");
}
