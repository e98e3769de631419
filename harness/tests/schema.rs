//! `mynatap schema` agrees with the loader, judged by a real JSON-Schema validator (Python
//! `jsonschema`, Draft 2020-12): every shipped, exported and imported scenario is valid, and files
//! the loader refuses for a value outside a known set or a misspelt field are invalid.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::{mynatap, root, scratch_dir, text};

fn validate(schema: &PathBuf, files: &[PathBuf]) -> Vec<String> {
    let out = Command::new("python3")
        .arg(root().join("harness/tests/schema/validate.py"))
        .arg(schema)
        .args(files)
        .output()
        .expect("python3 with python3-jsonschema and python3-yaml (scripts/test.sh installs them)");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

const BASE: &str = "id: case\ntitle: case\ncovers: [FLOW-1]\nworld:\n  clock: 2026-04-01T09:00:00+09:00\n  people:\n    - id: hanako\n      birth_date: 1990-05-12\n      card: { pin: 4321, security_code: 1234 }\n      insurance: { insurer: 06132013 }\n      phones:\n        - { id: droid, os: android, pin: 1234, key: p256 }\nsteps:\n";

#[test]
fn the_schema_accepts_what_the_loader_accepts_and_refuses_what_it_refuses() {
    let dir = scratch_dir("schema");
    let schema = dir.join("schema.json");
    let out = mynatap().arg("schema").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    std::fs::write(&schema, &out.stdout).unwrap();

    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios")).unwrap().map(|entry| entry.unwrap().path()).collect();
    let export = dir.join("export");
    assert_eq!(mynatap().args(["suite", "export", export.to_str().unwrap()]).output().unwrap().status.code(), Some(0));
    files.extend(std::fs::read_dir(&export).unwrap().map(|entry| entry.unwrap().path()));
    for capture in ["mynatap-served-card-face-tap.jsonl", "pcsc-spy-android-c-client-tap.log"] {
        let imported = dir.join(format!("{capture}.yaml"));
        let out = mynatap()
            .args(["capture", "import", root().join("fixtures/captures").join(capture).to_str().unwrap(), "--output", imported.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        files.push(imported);
    }
    // Unquoted PINs, security codes and insurer numbers: the contract allows them.
    let unquoted = dir.join("unquoted.yaml");
    std::fs::write(&unquoted, format!("{BASE}  - tap: {{ phone: droid, pin: 1234 }}\n    expect: {{ outcome: verified, insurer: 06132013 }}\n")).unwrap();
    files.push(unquoted.clone());
    assert_eq!(mynatap().args(["run", unquoted.to_str().unwrap()]).output().unwrap().status.code(), Some(0));
    for line in validate(&schema, &files) {
        assert!(line.starts_with("valid "), "{line}");
    }

    let invalid = [
        ("key", "  - add_phone: { person: hanako, phone: p2, os: android, key: rsa1024 }\n"),
        ("fault kind", "  - tap: { phone: droid, fault: { kind: explode, apdu: 1 } }\n"),
        ("command", "  - tap: { phone: droid, fault: { kind: delay, command: format, ms: 900 } }\n"),
        ("reason", "  - tap: { phone: droid }\n    expect: { outcome: rejected, reason: bad_luck }\n"),
        ("outcome", "  - tap: { phone: droid }\n    expect: { outcome: maybe }\n"),
        ("error", "  - remove_phone: { phone: droid }\n    expect: { error: oops }\n"),
        ("auth", "  - tap: { card: hanako, auth: iris }\n"),
        ("misspelt field", "  - tap: { phone: droid, pinn: \"1234\" }\n"),
    ];
    let mut cases = Vec::new();
    for (index, (what, steps)) in invalid.iter().enumerate() {
        let file = dir.join(format!("invalid-{index}.yaml"));
        std::fs::write(&file, format!("{BASE}{steps}")).unwrap();
        let run = mynatap().args(["run", file.to_str().unwrap()]).output().unwrap();
        assert_eq!(run.status.code(), Some(2), "the loader accepts the {what} case: {}", text(&run));
        cases.push(file);
    }
    for (line, (what, _)) in validate(&schema, &cases).iter().zip(invalid) {
        assert!(line.starts_with("invalid "), "the schema accepts the {what} case: {line}");
    }
}
