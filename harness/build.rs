//! Embeds the conformance suite (`scenarios/*.yaml` of the workspace) in the binary, so a
//! `mynatap` installed without the repository still has the suite of its version.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    println!("cargo::rerun-if-changed={}", dir.display());
    // A binary without its suite would certify nothing and say so only at run time: stop here.
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) => panic!("cannot read the conformance suite in {}: {error} (the build embeds it)", dir.display()),
    };
    let mut names: Vec<String> =
        entries.filter_map(Result::ok).map(|entry| entry.file_name().to_string_lossy().into_owned()).filter(|name| name.ends_with(".yaml")).collect();
    if names.is_empty() {
        panic!("no scenario (*.yaml) in {}: the build embeds the conformance suite from there", dir.display());
    }
    names.sort();
    let mut out = String::from("&[\n");
    for name in &names {
        let path = dir.join(name);
        let _ = writeln!(out, "    ({name:?}, include_str!({:?})),", path.display().to_string());
    }
    out.push_str("]\n");
    let target = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("builtin_suite.rs");
    if let Err(error) = std::fs::write(&target, out) {
        panic!("cannot write {}: {error}", target.display());
    }
}
