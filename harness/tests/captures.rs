//! Captures as vendors bring them: the shipped captures of mynatap's own served devices and of a C
//! reader under pcsc-spy replay against their profiles and import to scenarios that pass; a changed
//! status word is a difference naming the command and both answers; raw steps with bad input are
//! located errors.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mynatap_harness::scenario::{REQUIREMENTS_MD, parse, requirement_ids};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn mynatap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mynatap")).args(args).current_dir(root()).output().expect("run mynatap")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mynatap-captures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The profile a shipped capture was made with: its file name says.
fn profile_of(file: &Path) -> &'static str {
    let name = file.file_name().unwrap().to_string_lossy();
    ["android", "iphone", "card"].into_iter().find(|profile| name.contains(profile)).unwrap()
}

fn shipped() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/captures"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl" || ext == "log"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_capture_replays_on_its_profile_and_imports_to_a_passing_scenario() {
    let files = shipped();
    assert!(files.len() >= 5, "{files:?}");
    let dir = scratch();
    for file in files {
        let path = file.display().to_string();
        let replay = mynatap(&["capture", "replay", &path, "--profile", profile_of(&file)]);
        assert_eq!(replay.status.code(), Some(0), "{path}: {}", text(&replay));
        assert!(text(&replay).contains("every answer meets the capture"), "{}", text(&replay));
        let scenario = dir.join(format!("{}.yaml", file.file_stem().unwrap().to_string_lossy()));
        let import = mynatap(&["capture", "import", &path, "-o", &scenario.display().to_string()]);
        assert_eq!(import.status.code(), Some(0), "{path}: {}", text(&import));
        let run = mynatap(&["run", &scenario.display().to_string()]);
        assert_eq!(run.status.code(), Some(0), "{path}: {}", text(&run));
        // A capture of another kind of device is not replayed on this one.
        let other = if profile_of(&file) == "card" { "android" } else { "card" };
        let elsewhere = mynatap(&["capture", "replay", &path, "--profile", other]);
        assert_eq!(elsewhere.status.code(), Some(2), "{path} on {other}: {}", text(&elsewhere));
        assert!(text(&elsewhere).contains(&format!("replay it with --profile {}", profile_of(&file))), "{}", text(&elsewhere));
    }
}

#[test]
fn a_profile_change_breaks_the_shipped_captures() {
    // The Android profile with a P-384 key: every signature is 96 bytes, not the recorded 64.
    let profile = std::fs::read_to_string(root().join("fixtures/profiles/android.yaml")).unwrap().replace("key: p256", "key: p384");
    let file = scratch().join("android-p384.yaml");
    std::fs::write(&file, profile).unwrap();
    for capture in shipped().iter().filter(|capture| profile_of(capture) == "android" && !capture.to_string_lossy().contains("select-read")) {
        let replay = mynatap(&["capture", "replay", &capture.display().to_string(), "--profile", "android", "--profile-file", &file.display().to_string()]);
        let printed = text(&replay);
        assert_eq!(replay.status.code(), Some(1), "{printed}");
        assert!(printed.contains("96 data byte(s), expected 64"), "{printed}");
    }
}

#[test]
fn one_status_word_changed_is_a_difference_naming_the_command_and_both_answers() {
    let original = std::fs::read_to_string(root().join("fixtures/captures/mynatap-served-android-tap.jsonl")).unwrap();
    // The VERIFY of the PIN answered 9000; say it answered 63C2.
    let verify = original.lines().position(|line| line.contains("\"command\":\"0020")).unwrap();
    let changed: Vec<String> = original
        .lines()
        .enumerate()
        .map(|(index, line)| if index == verify { line.replace("\"response\":\"9000\"", "\"response\":\"63C2\"") } else { line.to_owned() })
        .collect();
    let file = scratch().join("changed.jsonl");
    std::fs::write(&file, changed.join("\n")).unwrap();
    let replay = mynatap(&["capture", "replay", &file.display().to_string(), "--profile", "android", "--pin", "1234"]);
    let printed = text(&replay);
    assert_eq!(replay.status.code(), Some(1), "{printed}");
    assert!(printed.contains(&format!("command {} (capture line {})", verify + 1, verify + 1)), "{printed}");
    assert!(printed.contains("recorded: 63C2") && printed.contains("answered: 9000"), "{printed}");
    assert!(printed.contains("1 answer(s) differ"), "{printed}");
}

#[test]
fn unreadable_captures_are_exit_2_with_the_line() {
    let dir = scratch();
    let garbled = dir.join("garbled.jsonl");
    std::fs::write(&garbled, "{\"time\":\"2026-04-01T09:00:00+09:00\",\"tap\":\"1\",\"command\":\"00A4040C\",\"response\":\"9000\"}\n{\"time\": 3}\n").unwrap();
    let out = mynatap(&["capture", "import", &garbled.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("garbled.jsonl:2:"), "{}", text(&out));
    let empty = dir.join("empty.log");
    std::fs::write(&empty, "SCardEstablishContext\n i dwScope: SCARD_SCOPE_USER (0x00000000)\n").unwrap();
    let out = mynatap(&["capture", "replay", &empty.display().to_string(), "--profile", "android"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("LD_PRELOAD=libpcscspy.so.0"), "{}", text(&out));
    // No token label read and no --profile: the device kind is asked for.
    let unlabelled = dir.join("unlabelled.jsonl");
    std::fs::write(
        &unlabelled,
        "{\"time\":\"2026-04-01T09:00:00+09:00\",\"tap\":\"1\",\"command\":\"00A4040C0AD392F00026010000000100\",\"response\":\"9000\"}\n",
    )
    .unwrap();
    let out = mynatap(&["capture", "import", &unlabelled.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("give --profile"), "{}", text(&out));
}

fn load(steps: &str) -> Result<mynatap_harness::scenario::Scenario, String> {
    let requirements: BTreeSet<String> = requirement_ids(REQUIREMENTS_MD);
    let source = format!(
        "id: raw\ntitle: raw\ncovers: [FLOW-4]\nworld:\n  clock: 2026-04-01T09:00:00+09:00\n  people:\n    - id: hanako\n      birth_date: 1990-05-12\n      phones:\n        - {{ id: phone, os: android }}\nsteps:\n{steps}"
    );
    parse(Path::new("raw.yaml"), &source, &requirements).map_err(|error| error.to_string())
}

#[test]
fn raw_steps_with_bad_input_are_located_errors() {
    let cases = [
        ("  - apdu: { device: phone, send: \"00A4G40C\" }\n", "raw.yaml:12:", "got `G` at digit 5"),
        ("  - apdu: { device: phone, send: \"00A404C\" }\n", "raw.yaml:12:", "7 hex digits, an odd number"),
        ("  - apdu: { device: phone, send: \"00A4\" }\n", "raw.yaml:12:", "4 to"),
        ("  - apdu: { device: nobody, send: \"00A4040C\" }\n", "raw.yaml:12:", "unknown device `nobody`"),
        ("  - reset: { device: nobody }\n", "raw.yaml:12:", "unknown device `nobody`"),
        ("  - apdu: { device: phone, send: \"00A4040C\" }\n    expect: { sw: \"90\" }\n", "raw.yaml:13:", "4 hex digits"),
        ("  - apdu: { device: phone, send: \"00A4040C\" }\n    expect: { data: \"0102\", data_len: 3 }\n", "raw.yaml:13:", "no answer can match both"),
        ("  - apdu: { device: phone, send: \"00A4040C\" }\n    expect: { outcome: verified }\n", "raw.yaml:13:", "expects `sw`"),
        ("  - apdu: { device: phone, send: \"00A4040C\", le: 3 }\n", "raw.yaml:12:", "unknown field `le`"),
        ("  - tap: { phone: phone }\n    expect: { outcome: verified, sw: \"9000\" }\n", "raw.yaml:13:", "belongs to an `apdu` step"),
        ("  - reset: { device: phone }\n    expect: { error: under_15 }\n", "raw.yaml:13:", "leave `expect` out"),
    ];
    for (steps, at, message) in cases {
        let error = load(steps).unwrap_err();
        assert!(error.starts_with(at) && error.contains(message), "{steps}: {error}");
    }
    // Spaces between bytes, a number for a status word, the card of a person: all fine.
    let fine = load(
        "  - apdu: { device: hanako, send: \"00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01 00\" }\n    expect: { sw: 9000, data: \"\" }\n  - reset: { device: phone }\n",
    );
    assert!(fine.is_ok(), "{fine:?}");
}
