//! Exploration end to end: `mynatap explore` is seeded and agrees with the rules model on the
//! built-in terminal; a player that lies about one kind of tap is found, shrunk to a handful of
//! steps, and the file it writes replays to the same failure and passes on the honest world.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use mynatap_harness::explore::{Plan, explore, life_tree, play_life};
use mynatap_harness::play::{MemoryPlayer, Status, TapPlayer, load_suite, run_scenario, run_suite};
use mynatap_harness::scenario::builtin;
use mynatap_harness::scenario::{Expectation, parse, requirement_ids};
use mynatap_sim::contract::Contract;
use mynatap_sim::terminal::{Outcome, Reason};
use mynatap_sim::world::{Profiles, TapReport, TapSpec, World, WorldError};
use proptest::strategy::ValueTree;
use support::{mynatap, scratch_dir, text};

/// A reader that takes a suspended phone for a good one (the `ignore-hold` defect, in memory).
#[derive(Debug)]
struct IgnoresHold;

impl TapPlayer for IgnoresHold {
    fn tap(&mut self, world: &mut World, spec: &TapSpec, expect: &Expectation) -> Result<TapReport, WorldError> {
        let mut report = MemoryPlayer.tap(world, spec, expect)?;
        if let Outcome::Rejected { reason: Reason::CertificateSuspended, .. } = report.outcome {
            report.outcome = Outcome::Rejected { reason: Reason::ProtocolError, detail: "pretends".into() };
        }
        Ok(report)
    }
}

/// A reader that stops reading a CRL after its 40th entry (the issue's example of a bug that
/// reaches clinics): with a longer list it misses the revocation and goes on. No scenario of the
/// fixed suite has a CRL that long.
#[derive(Debug)]
struct ShortCrlReader;

impl TapPlayer for ShortCrlReader {
    fn tap(&mut self, world: &mut World, spec: &TapSpec, expect: &Expectation) -> Result<TapReport, WorldError> {
        let long_crl = world.registry().revoked_count() > 40;
        let mut report = MemoryPlayer.tap(world, spec, expect)?;
        if long_crl && let Outcome::Rejected { reason: Reason::CertificateRevoked, .. } = report.outcome {
            report.outcome = Outcome::Rejected { reason: Reason::NotRegistered, detail: "went on to eligibility".into() };
        }
        Ok(report)
    }
}

fn plan(count: usize) -> Plan {
    Plan { count, seed: 11, contract: Contract::LATEST, budget: Some(Duration::from_secs(600)), shrink_limit: 300, keep_results: false, keypad_only: false }
}

#[test]
fn the_same_seed_gives_the_same_lives_and_other_seeds_others() {
    let life = |seed, index| life_tree(seed, index, Contract::LATEST).unwrap().current();
    assert_eq!(life(3, 7), life(3, 7));
    assert_ne!(life(3, 7), life(4, 7));
    assert_ne!(life(3, 7), life(3, 8));
    // 1.1 lives use nothing 1.2 added: they load as 1.1 files.
    let requirements = requirement_ids(mynatap_harness::scenario::REQUIREMENTS_MD);
    for index in 0..20 {
        let old = life_tree(3, index, Contract::V1_1).unwrap().current();
        let yaml = mynatap_harness::scenario::life::file(&old, "old", "old").unwrap();
        assert!(!yaml.contains("forgery") && !yaml.contains("status:") && !yaml.contains("grace"), "{yaml}");
        parse(std::path::Path::new("old.yaml"), &yaml, &requirements).unwrap();
    }
}

#[test]
fn a_defect_is_found_shrunk_and_replays_from_its_file() {
    let players: Vec<Box<dyn TapPlayer + Send>> = vec![Box::new(IgnoresHold), Box::new(IgnoresHold)];
    let found = explore(&plan(400), players, &|_| {});
    let failure = found.failure.expect("a suspended phone comes up in 400 lives");
    // Shrunk to what it takes: a phone added, reported lost, tapped.
    assert!(failure.shrunk.0 <= 4 && failure.shrunk.1 <= 2, "{:?}\n{}", failure.shrunk, failure.yaml);
    assert!(failure.shrunk <= failure.original);
    let step = failure.result.failure.as_ref().unwrap();
    assert_eq!(step.expected, "rejected: certificate_suspended", "{}", failure.yaml);
    // The file replays: the same failure with the defect, a pass on the honest world.
    let requirements = requirement_ids(mynatap_harness::scenario::REQUIREMENTS_MD);
    let scenario = parse(std::path::Path::new("shrunk.yaml"), &failure.yaml, &requirements).unwrap();
    let again = run_scenario(&scenario, 11, &Profiles::default(), &mut IgnoresHold);
    assert_eq!(again.status, Status::Failed);
    assert_eq!(again.failure.unwrap().actual, "rejected: protocol_error");
    assert_eq!(run_scenario(&scenario, 11, &Profiles::default(), &mut MemoryPlayer).status, Status::Passed);
    // And the life it came from fails the same way when played alone.
    let original = life_tree(11, failure.index, Contract::LATEST).unwrap().current();
    assert_eq!(play_life(&original, "again", 11, &requirements, &mut IgnoresHold).status, Status::Failed);
}

/// Beyond a fixed suite: a defect the whole built-in suite passes is found by exploration.
#[test]
fn exploration_finds_what_the_fixed_suite_misses() {
    let requirements = requirement_ids(mynatap_harness::scenario::REQUIREMENTS_MD);
    let suite = load_suite(&builtin::paths(), &requirements, None);
    let make_player = || -> Box<dyn TapPlayer> { Box::new(ShortCrlReader) };
    let results = run_suite(&suite, 11, 2, &make_player, &|_| {});
    let failing: Vec<&str> = results.iter().filter(|r| r.status != Status::Passed && r.status != Status::NotApplicable).map(|r| r.id.as_str()).collect();
    assert!(failing.is_empty(), "the fixed suite was meant to miss this defect, but {failing:?} caught it");
    let players: Vec<Box<dyn TapPlayer + Send>> = vec![Box::new(ShortCrlReader), Box::new(ShortCrlReader)];
    let found = explore(&plan(600), players, &|_| {});
    let failure = found.failure.expect("a revoked card behind a long CRL comes up in 600 lives");
    let step = failure.result.failure.as_ref().unwrap();
    assert_eq!(step.expected, "rejected: certificate_revoked", "{}", failure.yaml);
    assert!(failure.yaml.contains("revoked_elsewhere:"), "the shrunk life keeps the long CRL:\n{}", failure.yaml);
    assert!(failure.shrunk.1 <= 2, "{:?}\n{}", failure.shrunk, failure.yaml);
}

#[test]
fn explore_agrees_with_the_model_prints_coverage_and_is_seeded() {
    let out = scratch_dir("explore-cli");
    let run = |seed: &str| mynatap().args(["explore", "-n", "60", "--seed", seed, "--out", out.to_str().unwrap()]).output().unwrap();
    let first = run("5");
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let printed = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(printed.contains("explored 60 of 60 lives") && printed.contains("taps/s"), "{printed}");
    assert!(printed.contains("taps by outcome:") && printed.contains("taps by device:") && printed.contains("taps with a fault:"), "{printed}");
    assert!(printed.contains("no disagreement"), "{printed}");
    let outcomes = |text: &str| text.lines().filter(|line| !line.starts_with("explored")).collect::<Vec<_>>().join("\n");
    let again = run("5");
    assert_eq!(outcomes(&printed), outcomes(&String::from_utf8_lossy(&again.stdout)), "same seed, same lives");
    let other = run("6");
    assert_ne!(outcomes(&printed), outcomes(&String::from_utf8_lossy(&other.stdout)), "another seed, other lives");
    // Input errors: exit 2 with what to do.
    for (args, says) in [
        (vec!["explore", "--contract", "2.0"], "unknown version `2.0`"),
        (vec!["explore", "-n", "0"], "at least 1 life"),
        (vec!["explore", "--budget", "5x"], "unknown unit"),
    ] {
        let bad = mynatap().args(&args).output().unwrap();
        assert_eq!(bad.status.code(), Some(2), "{args:?}: {}", text(&bad));
        assert!(text(&bad).contains(says), "{args:?}: {}", text(&bad));
    }
}

/// Against reader programs through real PC/SC: the reference reader is conformant on
/// exploration; a mutant is found by exploration alone and its shrunk file replays with
/// `certify` to the same failure.
#[cfg(feature = "pcsc")]
#[test]
fn certify_explore_passes_the_reference_reader_and_finds_a_mutant() {
    use std::path::Path;
    use std::process::Command;
    use support::sign_again;
    let _pcscd = support::exclusive();
    let exe = env!("CARGO_BIN_EXE_mynatap");
    let out = scratch_dir("certify-explore");
    let (key, public_key) = (out.join("key.pem"), out.join("key.pub"));
    assert!(Command::new("openssl").args(["genpkey", "-algorithm", "ed25519", "-out"]).arg(&key).status().unwrap().success());
    assert!(Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&key).arg("-out").arg(&public_key).status().unwrap().success());
    let certify = |reader: &str, lives: &str, bundle: &str| {
        let mut command = mynatap();
        command.args([
            "certify",
            "--seed",
            "20250919",
            "--explore",
            lives,
            "--jobs",
            "2",
            "--shrink-limit",
            "120",
            "--out",
            out.to_str().unwrap(),
            "--reader-cmd",
            reader,
        ]);
        command.arg("--bundle").arg(out.join(bundle)).arg("--signing-key").arg(&key).output().unwrap()
    };
    let verify = |bundle: &Path| mynatap().args(["bundle", "verify"]).arg(bundle).arg("--public-key").arg(&public_key).output().unwrap();
    let honest = certify(&format!("{exe} reference-reader"), "25", "honest");
    assert_eq!(honest.status.code(), Some(0), "{}", text(&honest));
    assert!(
        String::from_utf8_lossy(&honest.stdout)
            .contains("conformant on exploration; 25 of 25 lives played; seed given (a replay, not a fresh draw): seed 20250919"),
        "{}",
        text(&honest)
    );
    // The bundle holds every life and is judged again; lives that are not the seed's do not verify.
    let verified = verify(&out.join("honest"));
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));
    assert!(text(&verified).contains("25 scenarios judged again from their transcripts: conformant"), "{}", text(&verified));
    let index: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("honest/bundle.json")).unwrap()).unwrap();
    assert_eq!(index["exploration"]["lives"], 25);
    assert_eq!(index["exploration"]["coverage"]["lives"], 25);
    let forged = out.join("forged");
    assert!(Command::new("cp").arg("-r").arg(out.join("honest")).arg(&forged).status().unwrap().success());
    let life = forged.join("scenarios/explore-20250919-0.yaml");
    let yaml = std::fs::read_to_string(&life).unwrap();
    std::fs::write(&life, yaml.replacen("title: a generated life", "title: a life the certifier chose", 1)).unwrap();
    sign_again(&forged, &key);
    let refused = verify(&forged);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("is not life 0 of seed 20250919"), "{}", text(&refused));
    // A run that played 25 lives cannot be made to read as more: the counts the index records
    // are the verdict's, and a run cut short by its budget says "partial".
    let overstated = out.join("overstated");
    assert!(Command::new("cp").arg("-r").arg(out.join("honest")).arg(&overstated).status().unwrap().success());
    let edit = |file: &Path, change: &dyn Fn(&mut serde_json::Value)| {
        let mut value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        change(&mut value);
        std::fs::write(file, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    };
    edit(&overstated.join("bundle.json"), &|index| {
        index["exploration"]["lives_requested"] = 1000.into();
        index["exploration"]["out_of_time"] = true.into();
    });
    sign_again(&overstated, &key);
    let refused = verify(&overstated);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("results.json: /certification/conditions/lives: records 25 lives requested"), "{}", text(&refused));
    edit(&overstated.join("results.json"), &|report| {
        report["certification"]["conditions"]["lives"]["explored"] = serde_json::json!({"requested": 1000, "played": 25, "out_of_time": true})
    });
    sign_again(&overstated, &key);
    let refused = verify(&overstated);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused)
            .contains("/certification/partial: records nothing, but the evidence gives \"partial: 25 of 1000 lives played (the time budget ran out)\""),
        "{}",
        text(&refused)
    );
    let mutant = certify(&format!("{exe} reference-reader --mutant ignore-hold"), "200", "mutant");
    assert_eq!(mutant.status.code(), Some(1), "{}", text(&mutant));
    let verified = verify(&out.join("mutant"));
    assert!(text(&verified).contains("not conformant: 1 scenario failed"), "{}", text(&verified));
    let index: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("mutant/bundle.json")).unwrap()).unwrap();
    let shrunk = &index["exploration"]["shrunk"];
    assert!(out.join("mutant").join(shrunk["file"].as_str().unwrap()).is_file(), "{index}");
    assert!(shrunk["steps"].as_u64().unwrap() <= 5, "{shrunk}");
    let printed = String::from_utf8_lossy(&mutant.stdout).into_owned();
    assert!(printed.contains("NOT conformant on exploration") && printed.contains("certificate_suspended"), "{printed}");
    let file = std::fs::read_dir(&out).unwrap().map(|entry| entry.unwrap().path()).find(|path| path.extension().is_some_and(|e| e == "yaml")).unwrap();
    let steps = std::fs::read_to_string(&file).unwrap().lines().filter(|line| line.starts_with("  - ")).count();
    assert!(steps <= 5, "shrunk to {steps} steps:\n{}", std::fs::read_to_string(&file).unwrap());
    assert!(
        printed.contains(&format!(
            "replay: mynatap certify --seed 20250919 --contract 1.3 --reader-cmd '{exe} reference-reader --mutant ignore-hold' {}",
            file.display()
        )),
        "{printed}"
    );
    let replay = mynatap()
        .args(["certify", "--fixed-suite-only", "--reader-cmd", &format!("{exe} reference-reader --mutant ignore-hold"), file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(replay.status.code(), Some(1), "{}", text(&replay));
    let honest_replay =
        mynatap().args(["certify", "--fixed-suite-only", "--reader-cmd", &format!("{exe} reference-reader"), file.to_str().unwrap()]).output().unwrap();
    assert_eq!(honest_replay.status.code(), Some(0), "{}", text(&honest_replay));
}
