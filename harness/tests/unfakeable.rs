//! A certificate no lookup earns and no bystander spoils (docs/certification.md, "An
//! unpredictable run" and "The reader program's place"): each attack of issue 33 tried against
//! a real certification over PC/SC, and seen to fail.
//!
//! Needs pcscd with vsmartcard-vpcd (scripts/test.sh).

#![cfg(feature = "pcsc")]
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use support::{exclusive, mynatap, scratch_dir, text};

const SCENARIOS: [&str; 4] =
    ["scenarios/android-verified.yaml", "scenarios/revoked-device.yaml", "scenarios/not-registered.yaml", "scenarios/physical-card-pin.yaml"];

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A folder any user may write: reader programs run as another user when the tests run as root.
fn shared_dir(name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch_dir(name);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

fn reference_reader() -> String {
    format!("{} reference-reader", env!("CARGO_BIN_EXE_mynatap"))
}

#[test]
fn a_reader_that_looks_verdicts_up_passes_only_a_run_it_can_predict() {
    let _lock = exclusive();
    let dir = shared_dir("lookup");
    let lines = dir.join("lines");
    let counter = dir.join("counter");
    // The cheat learns the verdicts of a run it can predict (a known seed, the scenario files
    // alone) in play order, then prints the n-th learnt line at its n-th tap. It does the
    // protocol's work all the same (the evidence rules see it), and throws away what it found.
    let learn = script(&dir, "learn.sh", &format!("line=$({})\necho \"$line\" >> {}\necho \"$line\"", reference_reader(), lines.display()));
    let replay = script(
        &dir,
        "replay.sh",
        &format!(
            "n=$(cat {counter} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > {counter}\n{} > /dev/null\nsed -n \"${{n}}p\" {}",
            reference_reader(),
            lines.display(),
            counter = counter.display()
        ),
    );
    let certify =
        |reader: &Path, extra: &[&str]| mynatap().args(["certify", "--reader-cmd", reader.to_str().unwrap()]).args(extra).args(SCENARIOS).output().unwrap();
    let learnt = certify(&learn, &["--seed", "7", "--fixed-suite-only"]);
    assert_eq!(learnt.status.code(), Some(0), "{}", text(&learnt));
    // Given the seed and no generated lives, the lookup is certified: the attack works when
    // the run can be predicted, and the verdict says it could be.
    let looked_up = certify(&replay, &["--seed", "7", "--fixed-suite-only"]);
    assert_eq!(looked_up.status.code(), Some(0), "{}", text(&looked_up));
    assert!(text(&looked_up).contains("conformant; fixed suite only; seed given (a replay, not a fresh draw)"), "{}", text(&looked_up));
    // A default certification draws its seed in secret and plays generated lives among the
    // files: nothing to look up.
    std::fs::remove_file(&counter).unwrap();
    let default = certify(&replay, &[]);
    assert_eq!(default.status.code(), Some(1), "{}", text(&default));
    assert!(text(&default).contains("not conformant") && text(&default).contains("with 32 generated lives"), "{}", text(&default));
    assert!(!text(&default).contains("seed given"), "{}", text(&default));
    // Two default runs draw two seeds.
    let seed_of = |output: &std::process::Output| {
        text(output)
            .lines()
            .find_map(|line| line.strip_prefix("mynatap run: ").and_then(|rest| rest.split("seed ").nth(1)?.split(',').next().map(str::to_owned)))
            .unwrap()
    };
    let again = certify(&PathBuf::from(env!("CARGO_BIN_EXE_mynatap")), &["--fixed-suite-only"]);
    assert_ne!(seed_of(&default), seed_of(&again), "{}", text(&again));
}

#[test]
fn a_stolen_token_changes_no_verdict_and_is_logged_as_stolen() {
    let _lock = exclusive();
    // The thief reads the tap's URLs wherever it can (this test may run as root: the private
    // folder is no obstacle to it) and asks the back ends with the tap's token, over and over.
    let done = AtomicBool::new(false);
    let sent = AtomicUsize::new(0);
    let run = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                for entry in std::fs::read_dir(std::env::temp_dir()).unwrap().flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if !name.starts_with("mynatap-") || name.starts_with("mynatap-test") {
                        continue;
                    }
                    let Ok(urls) = std::fs::read_to_string(entry.path().join("urls.json")) else { continue };
                    let Ok(urls) = serde_json::from_str::<serde_json::Value>(&urls) else { continue };
                    for url in
                        [urls["crl_url"].as_str().unwrap_or_default().to_owned(), format!("{}?serial=01", urls["eligibility_url"].as_str().unwrap_or_default())]
                    {
                        let Some((address, path)) = url.strip_prefix("http://").and_then(|rest| rest.split_once('/')) else { continue };
                        if let Ok(mut stream) = std::net::TcpStream::connect(address) {
                            use std::io::{Read, Write};
                            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                            let _ = write!(stream, "GET /{path} HTTP/1.1\r\nHost: x\r\n\r\n");
                            let mut answer = String::new();
                            let _ = stream.read_to_string(&mut answer);
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(3));
            }
        });
        let run = mynatap().args(["certify", "--fixed-suite-only", "--reader-cmd", &reference_reader()]).args(SCENARIOS).output().unwrap();
        done.store(true, Ordering::Relaxed);
        run
    });
    assert!(sent.load(Ordering::Relaxed) > 0, "the thief never found a token");
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(text(&run).contains("certification: conformant"), "{}", text(&run));
    assert!(text(&run).contains("from another program than the reader") && text(&run).contains("the token was stolen"), "{}", text(&run));
}

#[test]
fn a_reader_run_by_root_cannot_read_or_attach_to_the_harness() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: containment of root readers is tested as root (CI runs as root)");
        return;
    }
    let _lock = exclusive();
    let dir = shared_dir("root-reader");
    let found = dir.join("found");
    // What a root reader did to read the expected verdicts: the harness's environment, its
    // memory, and ptrace. Written down, then the honest work.
    let attack = r#"
import ctypes, os, sys
# This runs in the reader program's shell; the harness is that shell's parent.
ppid = int(open("/proc/%d/stat" % os.getppid()).read().rsplit(")", 1)[1].split()[1])
found = []
found.append("uid=%d" % os.getuid())
for what in ("environ", "mem", "maps"):
    try:
        open("/proc/%d/%s" % (ppid, what), "rb").read(16)
        found.append(what + ":read")
    except OSError:
        found.append(what + ":denied")
libc = ctypes.CDLL(None, use_errno=True)
found.append("ptrace:attached" if libc.ptrace(16, ppid, None, None) == 0 else "ptrace:denied")
open(sys.argv[1], "a").write(" ".join(found) + "\n")
"#;
    let attack_path = dir.join("attack.py");
    std::fs::write(&attack_path, attack).unwrap();
    let reader = script(&dir, "reader.sh", &format!("/usr/bin/python3 {} {}\nexec {}", attack_path.display(), found.display(), reference_reader()));
    let run = mynatap().args(["certify", "--fixed-suite-only", "--reader-cmd", reader.to_str().unwrap(), "scenarios/android-verified.yaml"]).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(text(&run).contains("reader ran as: nobody"), "{}", text(&run));
    let found = std::fs::read_to_string(&found).unwrap();
    assert!(!found.contains("uid=0"), "{found}");
    for closed in ["environ:denied", "mem:denied", "ptrace:denied"] {
        assert!(found.contains(closed), "{closed}: {found}");
    }
    // Told to run readers as root, it does, and says containment was reduced.
    let run = mynatap()
        .args(["certify", "--fixed-suite-only", "--reader-user", "root", "--reader-cmd", &reference_reader(), "scenarios/android-verified.yaml"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(text(&run).contains("containment reduced (the reader ran as root)"), "{}", text(&run));
    // A user that does not exist is refused before anything runs.
    let run = mynatap()
        .args(["certify", "--reader-user", "no-such-user-here", "--reader-cmd", &reference_reader(), "scenarios/android-verified.yaml"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(text(&run).contains("no such user"), "{}", text(&run));
}

#[test]
fn files_handed_to_the_reader_are_its_to_read_not_to_change() {
    let _lock = exclusive();
    let dir = shared_dir("handed-files");
    // A reader (as the harness's own user, or root told so) that rewrites its CA file: the tap
    // is an adapter error naming the file.
    let reader = script(
        &dir,
        "reader.sh",
        &format!("chmod u+w \"$MYNATAP_CA_CERT\" 2>/dev/null; printf x >> \"$MYNATAP_CA_CERT\" 2>/dev/null\nexec {}", reference_reader()),
    );
    let run = mynatap()
        .args(["certify", "--fixed-suite-only", "--reader-user", "root", "--reader-cmd", reader.to_str().unwrap(), "scenarios/android-verified.yaml"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(text(&run).contains("MYNATAP_CA_CERT") && text(&run).contains("was changed during the tap"), "{}", text(&run));
}
