//! Writes seed corpora for the fuzz targets from the conformance suite: every command, every
//! tap's responses, vpcd frames, and the scenario files themselves.
//!
//! `cargo run -p mynatap-harness --example fuzz_corpus -- fuzz/corpus` (scripts/fuzz.sh does it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mynatap_harness::play::{MemoryPlayer, discover, run_scenario};
use mynatap_harness::scenario::{REQUIREMENTS_MD, load_file, requirement_ids};
use mynatap_sim::pki::DEFAULT_SEED;
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::world::Profiles;

fn chunk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u16::try_from(bytes.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into()));
    let requirements: BTreeSet<String> = requirement_ids(REQUIREMENTS_MD);
    let mut count = 0usize;
    for file in discover(&[PathBuf::from("scenarios")])? {
        let name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        write(&out, "scenario_loader", &name, &std::fs::read(&file)?)?;
        let scenario = load_file(&file, &requirements).map_err(|e| e.to_string())?;
        let result = run_scenario(&scenario, DEFAULT_SEED, &Profiles::default(), &mut MemoryPlayer);
        for recorded in &result.transcripts {
            let (step, transcript) = (recorded.step, &recorded.exchanges);
            // The targets' first byte picks the device (card, Android, iPhone) and, with bit 7,
            // Face ID; read it off the token label the tap saw.
            let label = transcript.get(2).and_then(|e| e.response.as_ref().ok()).map(|r| String::from_utf8_lossy(&r.data).trim_end().to_owned());
            let device = match label.as_deref().and_then(DeviceKind::from_token_label) {
                Some(DeviceKind::Android) => 1u8,
                Some(DeviceKind::Iphone) => 2 | 0x80,
                _ => 0,
            };
            let (mut commands, mut responses, mut frames) = (vec![device], vec![device], Vec::new());
            for (index, exchange) in transcript.iter().enumerate() {
                write(&out, "apdu_decode", &format!("{name}-{step}-{index}"), &exchange.command)?;
                chunk(&mut commands, &exchange.command);
                chunk(&mut frames, &exchange.command);
                if let Ok(response) = &exchange.response {
                    let mut bytes = response.data.clone();
                    bytes.extend(response.sw.as_deref().and_then(|sw| hex::decode(sw).ok()).unwrap_or_default());
                    chunk(&mut responses, &bytes);
                }
            }
            write(&out, "card_process", &format!("{name}-{step}"), &commands)?;
            write(&out, "terminal_response", &format!("{name}-{step}"), &responses)?;
            write(&out, "vpcd_frame", &format!("{name}-{step}"), &frames)?;
            count += 1;
        }
    }
    // Request heads a reader sends, and the kinds a hostile client might.
    let requests: [&[u8]; 6] = [
        b"GET /crl HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"GET /eligibility?serial=0123ABCD HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /eligibility?a=1&serial=00ff HTTP/1.0\r\n\r\n",
        b"POST /crl HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        b"GET /../../etc/passwd HTTP/1.1\r\n\r\n",
        b"GET /crl\n\n",
    ];
    for (index, request) in requests.iter().enumerate() {
        write(&out, "http_request", &format!("request-{index}"), request)?;
    }
    // The certifier's files: statements (first byte 0) and waivers (first byte 1).
    for (kind, folder) in [(0u8, "examples/statements"), (1u8, "examples/waivers")] {
        for entry in std::fs::read_dir(folder)? {
            let path = entry?.path();
            let mut bytes = vec![kind];
            bytes.extend(std::fs::read(&path)?);
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            write(&out, "certifier_files", &format!("{kind}-{name}"), &bytes)?;
        }
    }
    println!("wrote corpora of {count} taps into {}", out.display());
    Ok(())
}
