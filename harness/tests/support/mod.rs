//! Helpers shared by the end-to-end tests that drive the `mynatap` binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static PCSCD: Mutex<()> = Mutex::new(());

/// The tests of one binary share pcscd and its readers: one at a time.
pub fn exclusive() -> MutexGuard<'static, ()> {
    PCSCD.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `mynatap`, run in the workspace root.
pub fn mynatap() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mynatap"));
    command.current_dir(root());
    command
}

/// Everything a command printed, stdout then stderr.
pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A new empty folder for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mynatap-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Writes a bundle's manifest again and signs it with `private_key`, as a dishonest certifier
/// would after changing a file (`sha256sum` and `openssl pkeyutl`).
pub fn sign_again(bundle: &std::path::Path, private_key: &std::path::Path) {
    let sums = Command::new("sh")
        .arg("-c")
        .arg("find . -type f ! -name 'MANIFEST.sha256*' | sed 's|^\\./||' | sort | xargs sha256sum > MANIFEST.sha256")
        .current_dir(bundle)
        .output()
        .unwrap();
    assert!(sums.status.success(), "{}", text(&sums));
    let signed = Command::new("openssl")
        .args(["pkeyutl", "-sign", "-rawin", "-in", "MANIFEST.sha256", "-out", "MANIFEST.sha256.sig", "-inkey"])
        .arg(private_key)
        .current_dir(bundle)
        .output()
        .unwrap();
    assert!(signed.status.success(), "{}", text(&signed));
}

/// The first reader of vsmartcard's vpcd.
pub const READER: &str = "Virtual PCD 00 00";
pub const SELECT_JPKI: &str = "00A4040C0AD392F00026010000000100";

/// `mynatap serve-card` in the background, stopped when dropped.
pub struct ServedCard(pub Child);

impl ServedCard {
    pub fn start(args: &[&str]) -> Self {
        let spawn = || mynatap().arg("serve-card").args(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let mut served = Self(spawn());
        let started = Instant::now();
        let deadline = started + Duration::from_secs(8);
        let mut reseated = false;
        loop {
            // pcscd can mark the reader empty for good when it failed to reset the card of a
            // client that died holding it as that card's process left (docs/protocol.md): a card
            // not seen after 1.5 s is taken out past one of pcscd's polls and served again.
            if !reseated && started.elapsed() >= Duration::from_millis(1500) {
                reseated = true;
                let _ = served.0.kill();
                let _ = served.0.wait();
                std::thread::sleep(Duration::from_millis(600));
                served.0 = spawn();
            }
            // A real APDU, not the listing: right after another test's card left, pcscd can
            // still show a card that no longer answers.
            let probe = Command::new("opensc-tool").args(["-r", READER, "-s", SELECT_JPKI]).output().expect("opensc-tool (package opensc) must be installed");
            if text(&probe).contains("SW1=0x90, SW2=0x00") {
                return served;
            }
            if Instant::now() >= deadline {
                // What the card process said (it may have ended: vpcd refused it, the port was
                // taken), and what pcscd showed, so a failure here can be told apart.
                let ended = served.0.try_wait().ok().flatten();
                let _ = served.0.kill();
                let mut said = String::new();
                if let Some(mut stderr) = served.0.stderr.take() {
                    let _ = served.0.wait();
                    let _ = std::io::Read::read_to_string(&mut stderr, &mut said);
                }
                let listed = Command::new("opensc-tool").arg("-l").output().map(|o| text(&o)).unwrap_or_default();
                panic!(
                    "the served card never answered in `{READER}` within 8 s: is pcscd running?\nprobe: {}\nserve-card {}: {said}\nreaders: {listed}",
                    text(&probe),
                    ended.map_or("still ran".to_owned(), |status| format!("ended ({status})"))
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ServedCard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        // pcscd notices the card is gone at its next poll.
        std::thread::sleep(Duration::from_millis(600));
    }
}
