//! How a certification ran, as its verdict states it (its seed, its generated lives, the reader's
//! containment, the program's files): recorded in reports and bundles, worded into the verdict.

use serde::{Deserialize, Serialize};

/// What a certification played beyond the scenario files (docs/certification.md, "An
/// unpredictable run").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Lives {
    /// `--fixed-suite-only`: the scenario files alone.
    #[default]
    FixedSuiteOnly,
    /// The default: this many generated lives of the run's seed, played among the scenario files.
    Added {
        /// How many.
        count: usize,
    },
    /// `--explore N`: generated lives instead of the scenario files.
    Explored {
        /// `N`.
        requested: usize,
        /// Lives played in full.
        played: usize,
        /// The time budget ran out before `requested` lives.
        out_of_time: bool,
    },
}

/// One file that identifies the certified program, and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramFile {
    /// The file's path as the certifier's machine named it.
    pub path: String,
    /// Lower-case hex SHA-256 of its bytes.
    pub sha256: String,
}

/// How a certification ran, as its verdict states it: where its seed came from, what it played
/// beyond the scenario files, how the reader program was contained, and what identifies the
/// program. Recorded in the bundle; `bundle verify` words the verdict again from it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// The reader program ran in session mode (`--reader-session`): one program per virtual
    /// reader, asked for each tap on its stdin.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub session: bool,
    /// `--seed` was given: the run replays a seed someone knew, it is not a fresh draw.
    pub seed_given: bool,
    /// Generated lives played.
    pub lives: Lives,
    /// The user reader programs ran as (`--reader-user`), when the harness ran as root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader_user: Option<String>,
    /// As root, the reader programs ran as root too (`--reader-user root`): they could read the
    /// harness's memory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub containment_reduced: bool,
    /// The reader command's executable and every `--reader-file`, with their SHA-256.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub program: Vec<ProgramFile>,
}

impl Conditions {
    /// The words the verdict sentence gets for these conditions, and the partial words of a run
    /// cut short by its time budget.
    pub fn words(&self) -> (String, Option<String>) {
        let mut words = String::new();
        let mut partial = None;
        match self.lives {
            Lives::FixedSuiteOnly => words.push_str("; fixed suite only"),
            Lives::Added { count } => words.push_str(&format!("; with {count} generated {}", if count == 1 { "life" } else { "lives" })),
            Lives::Explored { requested, played, out_of_time } => {
                if out_of_time {
                    partial = Some(format!("partial: {played} of {requested} lives played (the time budget ran out)"));
                } else {
                    words.push_str(&format!("; {played} of {requested} lives played"));
                }
            }
        }
        if self.seed_given {
            words.push_str("; seed given (a replay, not a fresh draw)");
        }
        if self.containment_reduced {
            words.push_str("; containment reduced (the reader ran as root)");
        }
        (words, partial)
    }
}
