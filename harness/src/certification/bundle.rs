//! The certification bundle an auditor checks without trusting the vendor: the reports, every
//! transcript, the scenario files and profiles that ran, the statement and waivers, and a
//! manifest of SHA-256 sums (`sha256sum -c` reads it) signed with the certifier's Ed25519 key
//! (`openssl pkeyutl -verify -rawin` checks it). `verify` checks the signature and every sum,
//! then judges the recorded transcripts again against the recorded scenarios, offline.

mod exploration;
mod rejudge;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::play::evidence::{HexBytes, TapEvidence};
use crate::play::{ScenarioResult, Status};
use crate::scenario::builtin;

pub use exploration::{ExplorationIndex, ShrunkIndex, suite_label as exploration_label};
pub use rejudge::rejudge;

/// The bundle format (`mynatap_bundle` in `bundle.json`).
pub const FORMAT_VERSION: u32 = 1;
/// The manifest of SHA-256 sums.
pub const MANIFEST: &str = "MANIFEST.sha256";
/// The manifest's Ed25519 signature.
pub const SIGNATURE: &str = "MANIFEST.sha256.sig";
/// The index.
pub const INDEX: &str = "bundle.json";
/// The JSON report.
pub const RESULTS: &str = "results.json";
/// The HTML report.
pub const REPORT: &str = "report.html";
/// Largest file a verification reads.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Most files a verification accepts.
const MAX_FILES: usize = 10_000;

/// What `bundle.json` says: where each part is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// The bundle format ([`FORMAT_VERSION`]).
    pub mynatap_bundle: u32,
    /// The mynatap version that made it (verify with the same).
    pub tool_version: String,
    /// The certification seed.
    pub seed: u64,
    /// The day waivers were judged on (YYYY-MM-DD).
    pub judged_on: String,
    /// The statement's file in the bundle, if one was given.
    pub statement: Option<String>,
    /// The waivers' file in the bundle, if any were given.
    pub waivers: Option<String>,
    /// The contract version the reader was certified against (`--contract` or the statement's);
    /// absent in bundles older than 1.2: the latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    /// The profiles' files in the bundle.
    pub profiles: ProfilePaths,
    /// The suite the scenarios were judged from: its label and every file of it, judged or not
    /// (`--filter`, `--shard`), so the fingerprint, the waivers' flags and a partial run can be
    /// checked. Absent in bundles before it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<SuiteIndex>,
    /// Every scenario judged, in suite order.
    pub scenarios: Vec<IndexEntry>,
    /// `certify --explore N`: the suite is the generated lives; what else the run found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exploration: Option<ExplorationIndex>,
}

/// The whole suite a bundle's scenarios came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteIndex {
    /// As reports name it (`built-in suite of mynatap 0.1.0 (60 scenarios)`, `scenarios/`, ...).
    pub label: String,
    /// Every scenario file of the suite, in order.
    pub files: Vec<SuiteFile>,
}

/// One file of the suite: where it was when it ran, and its copy in the bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    /// Where it was when it ran.
    pub original: String,
    /// Its copy in the bundle.
    pub file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// Where the three device profiles are in the bundle.
pub struct ProfilePaths {
    /// The physical card's profile.
    pub card: String,
    /// The Android profile.
    pub android: String,
    /// The iPhone profile.
    pub iphone: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// One judged scenario of the bundle.
pub struct IndexEntry {
    /// The scenario's id.
    pub id: String,
    /// The scenario file in the bundle.
    pub file: String,
    /// Where it was when it ran.
    pub original: String,
    /// The scenario's taps and raw APDUs.
    pub evidence: String,
}

/// One scenario's evidence file: what the reader program did in each tap, and the raw steps'
/// APDUs (played on the device itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioEvidence {
    /// The scenario's id.
    pub id: String,
    /// The reader program's taps, in order.
    pub taps: Vec<TapEvidence>,
    /// The raw steps' APDUs, in order.
    pub raw: Vec<RawExchange>,
}

/// One APDU of a raw `apdu` step.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExchange {
    /// The step's index in the scenario.
    pub step: usize,
    #[serde(with = "crate::play::evidence::upper_hex")]
    /// The command bytes.
    pub command: Vec<u8>,
    /// `None`: the device had left the field.
    pub response: Option<HexBytes>,
}

/// What goes into a bundle besides the results.
#[derive(Debug)]
pub struct BundleInput<'a> {
    /// Every judged scenario's result.
    pub results: &'a [ScenarioResult],
    /// The HTML report.
    pub report_html: &'a str,
    /// The JSON report.
    pub results_json: &'a str,
    /// The certification seed.
    pub seed: u64,
    /// The suite's label and every file of it (judged or not).
    pub suite_label: &'a str,
    /// `(where it was, its text)`, in suite order.
    pub suite_files: &'a [(String, String)],
    /// The day waivers were judged on.
    pub judged_on: time::Date,
    /// The contract version the reader was certified against.
    pub contract: mynatap_sim::contract::Contract,
    /// (file name, text) of the statement and the waivers, as given.
    pub statement: Option<&'a str>,
    /// The waivers' text, as given.
    pub waivers: Option<&'a str>,
    /// The certifier's Ed25519 key.
    pub signing_key: &'a SigningKey,
    /// `certify --explore N`: the record, and the shrunk failure's file text and result.
    pub exploration: Option<(ExplorationIndex, Option<(&'a str, &'a ScenarioResult)>)>,
}

/// Largest key file read (a PEM Ed25519 key is about 120 bytes).
const MAX_KEY_BYTES: u64 = 16 * 1024;

/// Reads the certifier's private key: PKCS#8 PEM, as `openssl genpkey -algorithm ed25519` writes.
pub fn signing_key(file: &Path) -> Result<SigningKey, String> {
    let text = crate::files::read_text(file, MAX_KEY_BYTES).map_err(|e| format!("--signing-key {e}"))?;
    SigningKey::from_pkcs8_pem(&text).map_err(|e| {
        format!(
            "--signing-key {}: not an Ed25519 private key in PKCS#8 PEM ({e}); make one with `openssl genpkey -algorithm ed25519 -out key.pem`",
            file.display()
        )
    })
}

/// Reads a public key: SPKI PEM, as `openssl pkey -pubout` writes.
pub fn verifying_key(file: &Path) -> Result<VerifyingKey, String> {
    let text = crate::files::read_text(file, MAX_KEY_BYTES).map_err(|e| format!("--public-key {e}"))?;
    VerifyingKey::from_public_key_pem(&text).map_err(|e| {
        format!("--public-key {}: not an Ed25519 public key in SPKI PEM ({e}); make one with `openssl pkey -in key.pem -pubout -out key.pub`", file.display())
    })
}

/// A file name made of an id: letters, digits, `.`, `_`, `-` (anything else becomes `_`).
fn safe_name(id: &str) -> String {
    let name: String = id.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    if name.is_empty() || name.starts_with('.') { format!("_{name}") } else { name }
}

/// Refuses a bundle folder that already holds something: a bundle is never written over another
/// (checked before a run, so a long certification is not lost at its end).
pub fn ensure_empty(dir: &Path) -> Result<(), String> {
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(format!("--bundle {}: the folder is not empty; give a new one (a bundle is never written over another)", dir.display()));
    }
    Ok(())
}

/// Writes a signed bundle into `dir`, which must be new or empty (nothing is overwritten).
/// Returns the number of files signed.
pub fn write(dir: &Path, input: &BundleInput<'_>) -> Result<usize, String> {
    ensure_empty(dir)?;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    files.insert(REPORT.into(), input.report_html.as_bytes().to_vec());
    files.insert(RESULTS.into(), input.results_json.as_bytes().to_vec());
    let profiles = ProfilePaths { card: "profiles/card.yaml".into(), android: "profiles/android.yaml".into(), iphone: "profiles/iphone.yaml".into() };
    files.insert(profiles.card.clone(), mynatap_sim::profile::CARD_YAML.as_bytes().to_vec());
    files.insert(profiles.android.clone(), mynatap_sim::profile::ANDROID_YAML.as_bytes().to_vec());
    files.insert(profiles.iphone.clone(), mynatap_sim::profile::IPHONE_YAML.as_bytes().to_vec());
    let statement = input.statement.map(|text| {
        files.insert("statement.yaml".into(), text.as_bytes().to_vec());
        "statement.yaml".to_owned()
    });
    let waivers = input.waivers.map(|text| {
        files.insert("waivers.yaml".into(), text.as_bytes().to_vec());
        "waivers.yaml".to_owned()
    });
    // Every file of the suite, judged or not, under a name of its own.
    let mut suite_files = Vec::new();
    let mut copies: BTreeMap<String, String> = BTreeMap::new();
    let given: BTreeMap<&str, &str> = input.suite_files.iter().map(|(original, text)| (original.as_str(), text.as_str())).collect();
    for original in input.suite_files.iter().map(|(original, _)| original.clone()).chain(input.results.iter().map(|result| result.file.clone())) {
        if copies.contains_key(&original) {
            continue;
        }
        let path = PathBuf::from(&original);
        let base = path.file_name().map(|n| safe_name(&n.to_string_lossy())).unwrap_or_else(|| "scenario.yaml".to_owned());
        // Two folders may hold files of one name: the later gets a number.
        let mut file = format!("scenarios/{base}");
        let mut n = 2;
        while files.contains_key(&file) {
            file = format!("scenarios/{n}-{base}");
            n += 1;
        }
        let text = match given.get(original.as_str()) {
            Some(text) => std::borrow::Cow::Borrowed(*text),
            None => builtin::source_of(&path).map_err(|e| format!("cannot read {original} for the bundle: {e}"))?,
        };
        files.insert(file.clone(), text.as_bytes().to_vec());
        if given.contains_key(original.as_str()) {
            suite_files.push(SuiteFile { original: original.clone(), file: file.clone() });
        }
        copies.insert(original, file);
    }
    let mut entries = Vec::new();
    for result in input.results {
        let file = copies.get(&result.file).cloned().unwrap_or_default();
        let evidence = format!("evidence/{}.json", safe_name(&result.id));
        files.insert(evidence.clone(), to_json(&evidence_of(result))?);
        entries.push(IndexEntry { id: result.id.clone(), file, original: result.file.clone(), evidence });
    }
    let exploration = match &input.exploration {
        None => None,
        Some((record, shrunk)) => {
            let mut record = record.clone();
            if let (Some(index), Some((yaml, result))) = (record.shrunk.as_mut(), shrunk) {
                index.file = format!("exploration/{}.yaml", safe_name(&result.id));
                index.evidence = format!("exploration/{}.json", safe_name(&result.id));
                files.insert(index.file.clone(), yaml.as_bytes().to_vec());
                files.insert(index.evidence.clone(), to_json(&evidence_of(result))?);
            }
            Some(record)
        }
    };
    let index = Index {
        mynatap_bundle: FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        seed: input.seed,
        judged_on: input.judged_on.to_string(),
        statement,
        waivers,
        contract: Some(input.contract.as_str().to_owned()),
        profiles,
        suite: Some(SuiteIndex { label: input.suite_label.to_owned(), files: suite_files }),
        scenarios: entries,
        exploration,
    };
    files.insert(INDEX.into(), to_json(&index)?);
    let mut manifest = String::new();
    for (path, bytes) in &files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            crate::files::ensure_folder(parent).map_err(|e| format!("cannot create {e}"))?;
        }
        crate::files::write_replacing(&target, bytes).map_err(|e| format!("cannot write {e}"))?;
        manifest.push_str(&format!("{}  {path}\n", hex::encode(Sha256::digest(bytes))));
    }
    crate::files::write_replacing(&dir.join(MANIFEST), manifest.as_bytes()).map_err(|e| format!("cannot write the manifest: {e}"))?;
    let signature = input.signing_key.sign(manifest.as_bytes());
    crate::files::write_replacing(&dir.join(SIGNATURE), &signature.to_bytes()).map_err(|e| format!("cannot write the signature: {e}"))?;
    Ok(files.len())
}

/// A scenario's evidence file: the reader program's taps, and the raw steps' APDUs.
fn evidence_of(result: &ScenarioResult) -> ScenarioEvidence {
    let taps: BTreeSet<usize> = result.evidence.iter().map(|tap| tap.step).collect();
    let raw = result
        .transcripts
        .iter()
        .filter(|transcript| !taps.contains(&transcript.step))
        .flat_map(|transcript| {
            transcript.exchanges.iter().map(|exchange| RawExchange {
                step: transcript.step,
                command: exchange.command.clone(),
                response: exchange.response.as_ref().ok().map(|response| HexBytes(response.to_bytes())),
            })
        })
        .collect();
    ScenarioEvidence { id: result.id.clone(), taps: result.evidence.clone(), raw }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec_pretty(value).map_err(|e| format!("cannot encode the bundle: {e}"))
}

/// Why a bundle does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The bundle cannot be read at all, or the key is not one (exit 2).
    #[error("{0}")]
    Input(String),
    /// A file was changed, added or removed, or the evidence does not support the results
    /// (exit 1): `file` names it.
    #[error("{file}: {why}")]
    Tampered {
        /// The file at fault.
        file: String,
        /// What is wrong with it.
        why: String,
    },
}

fn tampered(file: &str, why: impl Into<String>) -> VerifyError {
    VerifyError::Tampered { file: file.to_owned(), why: why.into() }
}

/// What a verified bundle holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Files the manifest lists.
    pub files: usize,
    /// Scenarios judged again.
    pub scenarios: usize,
    /// The verdict the evidence gives.
    pub verdict: String,
}

/// Reads a file of the bundle: a regular file (no symlink on the way, no FIFO), at most
/// [`MAX_FILE_BYTES`].
pub(crate) fn read_bounded(dir: &Path, relative: &str) -> Result<Vec<u8>, crate::files::FileError> {
    crate::files::read_inside(dir, Path::new(relative), MAX_FILE_BYTES)
}

/// A manifest path that stays inside the bundle (no absolute path, no `..`).
fn inside(path: &str) -> bool {
    !path.is_empty() && Path::new(path).components().all(|component| matches!(component, Component::Normal(_)))
}

/// Checks the signature, every sum and that nothing was added; then judges the evidence again.
pub fn verify(dir: &Path, key: &VerifyingKey) -> Result<Verified, VerifyError> {
    if !dir.is_dir() {
        return Err(VerifyError::Input(format!("{}: no such bundle folder", dir.display())));
    }
    let manifest = read_bounded(dir, MANIFEST).map_err(|e| tampered(MANIFEST, format!("cannot read: {e}")))?;
    let signature = read_bounded(dir, SIGNATURE).map_err(|e| tampered(SIGNATURE, format!("cannot read: {e}")))?;
    let signature = Signature::from_slice(&signature).map_err(|_| tampered(SIGNATURE, "not a 64-byte Ed25519 signature"))?;
    key.verify_strict(&manifest, &signature)
        .map_err(|_| tampered(MANIFEST, "the signature does not verify with this public key: the manifest was changed, or signed with another key"))?;
    let manifest = String::from_utf8(manifest).map_err(|_| tampered(MANIFEST, "not UTF-8 text"))?;
    let mut listed = BTreeSet::new();
    for (number, line) in manifest.lines().enumerate() {
        let (sum, path) = line.split_once("  ").ok_or_else(|| tampered(MANIFEST, format!("line {}: expected `SHA256  PATH`", number + 1)))?;
        if !inside(path) || listed.len() >= MAX_FILES {
            return Err(tampered(MANIFEST, format!("line {}: `{path}` is not a path inside the bundle", number + 1)));
        }
        let bytes = read_bounded(dir, path).map_err(|e| tampered(path, format!("listed in the manifest but cannot be read: {e}")))?;
        if hex::encode(Sha256::digest(&bytes)) != sum {
            return Err(tampered(path, "its SHA-256 sum differs from the signed manifest: the file was changed after signing"));
        }
        listed.insert(path.to_owned());
    }
    let mut present = Vec::new();
    walk(dir, dir, &mut present).map_err(|e| match e {
        WalkError::Io(e) => VerifyError::Input(format!("cannot list {}: {e}", dir.display())),
        WalkError::NotRegular(path) => tampered(&path, "not a regular file or folder (a symlink, a FIFO or a device): a bundle holds regular files only"),
    })?;
    if let Some(extra) = present.iter().find(|path| !listed.contains(*path) && *path != MANIFEST && *path != SIGNATURE) {
        return Err(tampered(extra, "not in the signed manifest: added after signing"));
    }
    let (scenarios, verdict) = rejudge(dir)?;
    Ok(Verified { files: listed.len(), scenarios, verdict })
}

enum WalkError {
    Io(std::io::Error),
    NotRegular(String),
}

/// Lists the bundle's files (relative paths); a symlink, FIFO or device anywhere is refused.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), WalkError> {
    for entry in std::fs::read_dir(dir).map_err(WalkError::Io)? {
        let entry = entry.map_err(WalkError::Io)?;
        let path = entry.path();
        if out.len() > MAX_FILES {
            return Ok(());
        }
        let kind = entry.file_type().map_err(WalkError::Io)?;
        let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            out.push(relative);
        } else {
            return Err(WalkError::NotRegular(relative));
        }
    }
    Ok(())
}

/// A scenario whose result differs from the baseline's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The scenario.
    pub id: String,
    /// Its status in the baseline (`None`: not there).
    pub before: Option<Status>,
    /// Its status now (`None`: not run).
    pub after: Option<Status>,
}

impl Change {
    /// A scenario that passed (or was waived or not applicable, or is new) and now fails.
    pub fn is_regression(&self) -> bool {
        let failing = |status: Option<Status>| matches!(status, Some(Status::Failed | Status::Error));
        failing(self.after) && !failing(self.before)
    }
}

/// Compares results with an earlier bundle's `results.json`.
pub fn compare_with_baseline(baseline: &Path, results: &[ScenarioResult]) -> Result<Vec<Change>, String> {
    let path = baseline.join(RESULTS);
    let bytes = read_bounded(baseline, RESULTS).map_err(|e| format!("--baseline: cannot read {e} (give the folder of an earlier --bundle)"))?;
    let before = serde_json::from_slice(&bytes)
        .map_err(|e| format!("not a JSON report: {e}"))
        .and_then(|report| rejudge::recorded_statuses(&report))
        .map_err(|e| format!("--baseline {}: {e}", path.display()))?;
    let after: BTreeMap<&str, Status> = results.iter().map(|result| (result.id.as_str(), result.status)).collect();
    let ids: BTreeSet<&str> = before.keys().map(String::as_str).chain(after.keys().copied()).collect();
    Ok(ids
        .into_iter()
        .filter_map(|id| {
            let (was, now) = (before.get(id).copied(), after.get(id).copied());
            (was != now).then(|| Change { id: id.to_owned(), before: was, after: now })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_paths_stay_inside_the_bundle() {
        assert!(inside("evidence/a.json"));
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a"] {
            assert!(!inside(bad), "{bad}");
        }
        assert_eq!(safe_name("../evil id"), "_.._evil_id");
    }

    #[test]
    fn regressions_are_new_failures_only() {
        let change = |before, after| Change { id: "a".into(), before, after };
        assert!(change(Some(Status::Passed), Some(Status::Failed)).is_regression());
        assert!(change(None, Some(Status::Failed)).is_regression());
        assert!(change(Some(Status::Waived), Some(Status::Error)).is_regression());
        assert!(!change(Some(Status::Failed), Some(Status::Passed)).is_regression());
        assert!(!change(Some(Status::Passed), Some(Status::Waived)).is_regression());
        assert!(!change(Some(Status::Passed), None).is_regression());
    }
}
