//! Suites at CI scale, through the command line: `--shard K/N` splits a suite so N jobs play
//! each scenario exactly once, `report merge` makes their reports one, and the suite built into
//! the binary plays where there is no `scenarios/` folder and exports for reading.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod support;

use std::collections::BTreeMap;
use std::process::Output;

use serde_json::Value;
use support::{mynatap, scratch_dir, text};

fn run(args: &[&str]) -> Output {
    mynatap().args(args).output().unwrap()
}

fn ids_and_statuses(report: &Value) -> BTreeMap<String, String> {
    report["scenarios"].as_array().unwrap().iter().map(|s| (s["id"].as_str().unwrap().to_owned(), s["status"].as_str().unwrap().to_owned())).collect()
}

#[test]
fn two_shards_play_every_scenario_exactly_once_and_merge_into_the_whole_run() {
    let dir = scratch_dir("shards");
    let whole = run(&["run", "--format", "json", "--jobs", "2"]);
    assert_eq!(whole.status.code(), Some(0), "{}", text(&whole));
    let whole: Value = serde_json::from_slice(&whole.stdout).unwrap();
    let mut shard_ids = Vec::new();
    for (k, format) in [(1, "json"), (2, "json"), (1, "junit"), (2, "junit")] {
        let output = dir.join(format!("shard-{k}.{format}"));
        let shard = run(&["run", "--format", format, "--shard", &format!("{k}/2"), "--output", output.to_str().unwrap()]);
        assert_eq!(shard.status.code(), Some(0), "{}", text(&shard));
        if format == "json" {
            let report: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
            assert!(report["suite"].as_str().unwrap().ends_with(&format!("shard {k}/2")), "{}", report["suite"]);
            shard_ids.extend(ids_and_statuses(&report).into_keys());
        }
    }
    // Each scenario in exactly one shard, and both shards have some.
    let mut sorted = shard_ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), shard_ids.len(), "a scenario ran in both shards");
    assert_eq!(sorted, ids_and_statuses(&whole).into_keys().collect::<Vec<_>>());

    let merged = run(&["report", "merge", dir.join("shard-1.json").to_str().unwrap(), dir.join("shard-2.json").to_str().unwrap()]);
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged));
    let merged: Value = serde_json::from_slice(&merged.stdout).unwrap();
    assert_eq!(ids_and_statuses(&merged), ids_and_statuses(&whole));
    assert_eq!(merged["summary"], whole["summary"]);
    assert_eq!(merged["coverage"], whole["coverage"]);

    let junit = run(&["report", "merge", dir.join("shard-1.junit").to_str().unwrap(), dir.join("shard-2.junit").to_str().unwrap()]);
    assert_eq!(junit.status.code(), Some(0), "{}", text(&junit));
    let xml = String::from_utf8(junit.stdout).unwrap();
    let document = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(document.descendants().filter(|n| n.has_tag_name("testcase")).count(), sorted.len());

    // The same shard twice is refused, naming the scenario.
    let twice = run(&["report", "merge", dir.join("shard-1.json").to_str().unwrap(), dir.join("shard-1.json").to_str().unwrap()]);
    assert_eq!(twice.status.code(), Some(2), "{}", text(&twice));
    assert!(text(&twice).contains("is in both"), "{}", text(&twice));
    // One shard alone is not the suite's result: refused, or merged as partial and said so.
    let alone = run(&["report", "merge", dir.join("shard-1.json").to_str().unwrap()]);
    assert_eq!(alone.status.code(), Some(2), "{}", text(&alone));
    assert!(text(&alone).contains("shard 2/2 missing"), "{}", text(&alone));
    let partial = run(&["report", "merge", "--partial", dir.join("shard-1.json").to_str().unwrap()]);
    let partial: Value = serde_json::from_slice(&partial.stdout).unwrap();
    assert_eq!(partial["partial"], "partial: shards 1/2 of 2 merged (2/2 missing)");
    let bad = run(&["run", "--shard", "3/2"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(text(&bad).contains("expected K/N"), "{}", text(&bad));
}

#[test]
fn outside_the_repository_the_built_in_suite_plays_and_exports() {
    let dir = scratch_dir("built-in");
    let played = mynatap().current_dir(&dir).args(["run", "--format", "json", "--jobs", "2"]).output().unwrap();
    assert_eq!(played.status.code(), Some(0), "{}", text(&played));
    let report: Value = serde_json::from_slice(&played.stdout).unwrap();
    let label = report["suite"].as_str().unwrap();
    assert!(label.starts_with("built-in suite of mynatap "), "{label}");
    let count = report["summary"]["total"].as_u64().unwrap();
    assert_eq!(count as usize, std::fs::read_dir(support::root().join("scenarios")).unwrap().count());
    assert!(report["scenarios"][0]["file"].as_str().unwrap().starts_with("<built-in>/"));

    let export = dir.join("exported");
    let exported = mynatap().current_dir(&dir).args(["suite", "export", "exported"]).output().unwrap();
    assert_eq!(exported.status.code(), Some(0), "{}", text(&exported));
    let files = std::fs::read_dir(&export).unwrap().count();
    assert_eq!(files as u64, count);
    // The exported suite is the built-in one: it plays the same.
    let again = mynatap().current_dir(&dir).args(["run", "--format", "json", "exported"]).output().unwrap();
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(ids_and_statuses(&again), ids_and_statuses(&report));
    // An edited file is never overwritten.
    let first = std::fs::read_dir(&export).unwrap().next().unwrap().unwrap().path();
    std::fs::write(&first, "id: mine\n").unwrap();
    let refused = mynatap().current_dir(&dir).args(["suite", "export", "exported"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("were not overwritten"), "{}", text(&refused));
    assert_eq!(std::fs::read_to_string(&first).unwrap(), "id: mine\n");
}

#[test]
fn the_html_report_of_a_run_is_one_self_contained_page() {
    let output = run(&["run", "--format", "html", "--filter", "android"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let page = String::from_utf8(output.stdout).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<h1 id=\"verdict-text\">") && page.contains("passed"));
    assert!(!page.contains("src=") && !page.contains("href=") && !page.contains("<script"));
}
