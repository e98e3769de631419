//! Hostile and careless input at the command line (issue 24): closed standard streams, files
//! shaped to make a parser slow or large, FIFOs, devices and symlinks where files are expected.
//! Every case ends with 0, 1 or 2, quickly, and nothing is written outside the folder named.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{mynatap, root, scratch_dir, text};

/// Runs `command` and fails the test if it takes longer than `limit` (a hang must fail here, not
/// at CI's time limit).
fn within(limit: Duration, mut command: Command) -> Output {
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("{command:?} took over {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const LIMIT: Duration = Duration::from_secs(20);

/// A pipe whose reading end is already closed: writing to it fails with EPIPE.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

fn exit_code_with_closed(stream: &str, args: &[&str], stdin: &[u8]) -> Option<i32> {
    let mut command = mynatap();
    command.args(args).stdin(Stdio::piped());
    if stream == "stdout" {
        command.stdout(closed_pipe()).stderr(Stdio::null());
    } else {
        command.stderr(closed_pipe()).stdout(Stdio::null());
    }
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let _ = input.write_all(stdin);
    drop(input);
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(started.elapsed() < LIMIT, "{args:?} with {stream} closed hangs");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_closed_stream_ends_every_command_with_its_own_exit_code() {
    let dir = scratch_dir("closed-streams");
    let capture = root().join("fixtures/captures/mynatap-served-android-tap.jsonl");
    let report = dir.join("report.json");
    let run = mynatap().args(["run", "--format", "json", "--output", report.to_str().unwrap()]).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let export = dir.join("export");
    let cases: Vec<(Vec<&str>, &[u8], i32)> = vec![
        (vec!["run"], b"", 0),
        (vec!["run", "--format", "json"], b"", 0),
        (vec!["list"], b"", 0),
        (vec!["coverage"], b"", 0),
        (vec!["schema"], b"", 0),
        (vec!["--help"], b"", 0),
        (vec!["capture", "replay", "--profile", "android", capture.to_str().unwrap()], b"", 0),
        (vec!["capture", "import", capture.to_str().unwrap()], b"", 0),
        (vec!["report", "merge", report.to_str().unwrap()], b"", 0),
        (vec!["suite", "export", export.to_str().unwrap()], b"", 0),
        (vec!["card"], b"00A4040C0AD392F00026010000000100\nzz not hex\n00B0000004\n", 0),
        (vec!["run", "no-such-folder"], b"", 2),
    ];
    for (args, stdin, expected) in &cases {
        for stream in ["stdout", "stderr"] {
            let code = exit_code_with_closed(stream, args, stdin);
            assert_eq!(code, Some(*expected), "mynatap {} with {stream} closed", args.join(" "));
        }
    }
}

fn scenario_file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn run_file(path: &Path) -> Output {
    let mut command = mynatap();
    command.args(["run", path.to_str().unwrap()]);
    within(LIMIT, command)
}

#[test]
fn deep_nesting_long_lines_and_aliases_are_refused_at_once_with_a_place() {
    let dir = scratch_dir("yaml-shapes");
    let nested = scenario_file(&dir, "nested.yaml", &"[".repeat(1_000_000));
    let out = run_file(&nested);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("nested.yaml:1:32: nested more than 32 levels"), "{}", text(&out));

    let mut aliases = String::from("id: aliases\ntitle: &big \"");
    aliases.push_str(&"x".repeat(400_000));
    aliases.push_str("\"\ncovers: [");
    aliases.push_str(&vec!["*big"; 50_000].join(", "));
    aliases.push_str("]\nsteps: []\n");
    let out = run_file(&scenario_file(&dir, "aliases.yaml", &aliases));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("aliases.yaml:2:8: an anchor (`&`)"), "{}", text(&out));

    let long_line = format!("id: long\ntitle: \"{}\"\ncovers: [FLOW-1]\nsteps: []\n", "y".repeat(900_000));
    let out = run_file(&scenario_file(&dir, "long.yaml", &long_line));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    let big = scenario_file(&dir, "big.yaml", &"# comment\n".repeat(5_000_000));
    let out = run_file(&big);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("over the 1048576-byte limit"), "{}", text(&out));
}

#[test]
fn a_byte_order_mark_is_read_as_editors_mean_it() {
    let dir = scratch_dir("bom");
    let original = std::fs::read_to_string(root().join("scenarios/revoked-device.yaml")).unwrap();
    let out = run_file(&scenario_file(&dir, "revoked-device.yaml", &format!("\u{feff}{original}")));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn fifos_and_devices_given_as_files_are_refused_at_once() {
    let dir = scratch_dir("fifos");
    let fifo = dir.join("pipe.jsonl");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for args in [
        vec!["run", fifo.to_str().unwrap()],
        vec!["capture", "import", fifo.to_str().unwrap()],
        vec!["capture", "replay", "--profile", "android", fifo.to_str().unwrap()],
        vec!["report", "merge", fifo.to_str().unwrap()],
        vec!["capture", "import", "/dev/zero"],
        vec!["report", "merge", "/dev/zero"],
        vec!["run", "/dev/zero"],
    ] {
        let mut command = mynatap();
        command.args(&args);
        let out = within(LIMIT, command);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("not a regular file"), "{args:?}: {}", text(&out));
    }
}

#[test]
fn writes_never_follow_a_symlink_out_of_the_folder() {
    let dir = scratch_dir("symlinks");
    let outside = dir.join("outside");
    std::fs::create_dir(&outside).unwrap();
    let victim = outside.join("victim");
    std::fs::write(&victim, "precious").unwrap();

    // suite export: a dangling symlink and a FIFO at scenario names are left alone, reported.
    let export = dir.join("export");
    std::fs::create_dir(&export).unwrap();
    std::os::unix::fs::symlink(outside.join("created-outside"), export.join("revoked-device.yaml")).unwrap();
    assert!(Command::new("mkfifo").arg(export.join("expired-certificate.yaml")).status().unwrap().success());
    let mut command = mynatap();
    command.args(["suite", "export", export.to_str().unwrap()]);
    let out = within(LIMIT, command);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!outside.join("created-outside").exists());

    // run --record: a planted symlink is replaced by the recording, its target untouched.
    let record = dir.join("record");
    std::fs::create_dir(&record).unwrap();
    std::os::unix::fs::symlink(&victim, record.join("revoked-device.jsonl")).unwrap();
    let mut command = mynatap();
    command.args(["run", "scenarios/revoked-device.yaml", "--record", record.to_str().unwrap()]);
    let out = within(LIMIT, command);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let recorded = record.join("revoked-device.jsonl");
    assert!(!recorded.symlink_metadata().unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(&recorded).unwrap().contains("\"tap\""));

    // --output through a symlink: the link is replaced, the victim kept.
    let report = dir.join("report.txt");
    std::os::unix::fs::symlink(&victim, &report).unwrap();
    let mut command = mynatap();
    command.args(["run", "scenarios/revoked-device.yaml", "--output", report.to_str().unwrap()]);
    let out = within(LIMIT, command);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(std::fs::read_to_string(&report).unwrap().contains("revoked-device"));
}

#[test]
fn capture_import_writes_only_what_run_loads_and_refuses_the_rest_at_once() {
    let dir = scratch_dir("import");
    let original = std::fs::read(root().join("fixtures/captures/mynatap-served-android-tap.jsonl")).unwrap();
    // File names that would break hand-written YAML: a newline with YAML after it, a backslash, quotes.
    for name in ["evil\nsteps: []\n.jsonl", "back\\slash \"quoted\" 'single'.jsonl", "#hash: & *star.jsonl"] {
        let capture = dir.join(name);
        std::fs::write(&capture, &original).unwrap();
        let scenario = dir.join("imported.yaml");
        let _ = std::fs::remove_file(&scenario);
        let out = mynatap().args(["capture", "import", capture.to_str().unwrap(), "--output", scenario.to_str().unwrap()]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{name:?}: {}", text(&out));
        let run = mynatap().args(["run", scenario.to_str().unwrap()]).output().unwrap();
        assert_eq!(run.status.code(), Some(0), "{name:?}: {}", text(&run));
    }
    let capture = dir.join("plain.jsonl");
    std::fs::write(&capture, &original).unwrap();
    let out = mynatap().args(["capture", "import", capture.to_str().unwrap(), "--id", "bad id with spaces"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--id: expected a non-empty id"), "{}", text(&out));

    // A command longer than any APDU: named by its capture line, nothing written.
    let long = format!("{{\"time\":\"2026-04-01T09:00:00+09:00\",\"tap\":\"1\",\"command\":\"{}\",\"response\":\"9000\"}}\n", "00".repeat(70_004));
    let capture = dir.join("long.jsonl");
    std::fs::write(&capture, long).unwrap();
    for command in ["import", "replay"] {
        let mut args = vec!["capture", command, capture.to_str().unwrap()];
        if command == "replay" {
            args.extend(["--profile", "android"]);
        }
        let out = mynatap().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{command}: {}", text(&out));
        assert!(text(&out).contains(":1: ") || text(&out).contains("capture line 1"), "{command}: {}", text(&out));
    }

    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let out = mynatap().args(["capture", "import", empty.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("the file is empty"), "{}", text(&out));
}

/// A scenario around `people` and `steps` (YAML fragments, indented as under `world:`).
fn scenario_with(clock: &str, people: &str, steps: &str) -> String {
    format!("id: case\ntitle: case\ncovers: [FLOW-1]\nworld:\n  clock: {clock}\n  people:\n{people}steps:\n{steps}")
}

const HANAKO: &str =
    "    - id: hanako\n      birth_date: 1990-05-12\n      card: { card_info_pin: \"5678\" }\n      phones:\n        - { id: droid, os: android }\n";

#[test]
fn what_a_later_step_would_refuse_is_a_located_error_at_load() {
    let dir = scratch_dir("rules");
    let clock = "2026-04-01T09:00:00+09:00";
    let cases = [
        (
            scenario_with(clock, &format!("{HANAKO}        - {{ id: ipho, os: iphone, pin: \"1234\" }}\n"), "  - tap: { phone: ipho }\n"),
            "world.people[0].phones[1].pin",
            "wrong_card_info_pin",
        ),
        (scenario_with(clock, HANAKO, "  - tap: { card: hanako, user_verified: false }\n"), "steps[0].tap.user_verified", "Face ID"),
        (scenario_with(clock, HANAKO, "  - tap: { phone: droid, user_verified: true }\n"), "steps[0].tap.user_verified", "Android"),
        (scenario_with(clock, HANAKO, "  - apdu: { device: droid, send: \"0 0A4040C\" }\n"), "steps[0].apdu.send", "whole bytes"),
        (scenario_with("1970-01-01T08:59:59+09:00", HANAKO, "  - tap: { phone: droid }\n"), "world.clock", "1970-01-01T09:00:00+09:00"),
    ];
    for (index, (yaml, path, words)) in cases.iter().enumerate() {
        let file = scenario_file(&dir, &format!("case-{index}.yaml"), yaml);
        let out = run_file(&file);
        assert_eq!(out.status.code(), Some(2), "{yaml}\n{}", text(&out));
        let printed = text(&out);
        assert!(printed.contains(&format!("case-{index}.yaml:")) && printed.contains(path) && printed.contains(words), "{yaml}\n{printed}");
    }
    // The iPhone in the world with the card's card-info PIN, or none, is fine; so is the clock's
    // first second.
    let fine = scenario_with(
        "1970-01-01T09:00:00+09:00",
        &format!("{}        - {{ id: ipho, os: iphone, pin: \"5678\" }}\n        - {{ id: ipho2, os: iphone }}\n", HANAKO.replace("1990-05-12", "1950-05-12")),
        "  - tap: { phone: ipho2 }\n    expect: { outcome: verified }\n  - tap: { phone: droid }\n    expect: { outcome: rejected, reason: certificate_revoked }\n",
    );
    let out = run_file(&scenario_file(&dir, "fine.yaml", &fine));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_fault_that_changes_nothing_the_terminal_receives_never_took_effect() {
    let dir = scratch_dir("faults");
    let clock = "2026-04-01T09:00:00+09:00";
    for fault in ["{ kind: corrupt_response, command: verify }", "{ kind: wrong_status, apdu: 1, sw: \"9000\" }"] {
        let yaml = scenario_with(clock, HANAKO, &format!("  - tap: {{ phone: droid, fault: {fault} }}\n    expect: {{ outcome: verified }}\n"));
        let out = run_file(&scenario_file(&dir, "case.yaml", &yaml));
        assert_eq!(out.status.code(), Some(1), "{fault}: {}", text(&out));
        assert!(text(&out).contains("never took effect"), "{fault}: {}", text(&out));
    }
    // The same kinds where they change the answer take effect.
    let yaml = scenario_with(
        clock,
        HANAKO,
        "  - tap: { phone: droid, fault: { kind: wrong_status, apdu: 1, sw: \"6A82\" } }\n    expect: { outcome: rejected, reason: protocol_error }\n",
    );
    let out = run_file(&scenario_file(&dir, "case.yaml", &yaml));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
