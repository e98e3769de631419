//! `--shard K/N`: a stable split of a suite by scenario id, so N CI jobs together play every
//! scenario exactly once, and a scenario stays in its shard as the suite grows.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use super::{Entry, Suite};

/// The K-th of N shards (K from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// K, from 1.
    pub index: u32,
    /// N.
    pub count: u32,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("expected K/N with 1 <= K <= N <= 1000 (e.g. 1/2), got `{text}`");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (index.trim().parse().map_err(|_| bad())?, count.trim().parse().map_err(|_| bad())?);
        if index == 0 || index > count || count > 1000 {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether the scenario `id` belongs to this shard: by a hash of the id alone.
    pub fn contains(&self, id: &str) -> bool {
        let digest = Sha256::digest(id.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
        u64::from_be_bytes(first) % u64::from(self.count) == u64::from(self.index - 1)
    }

    /// Keeps this shard's entries (a file that did not load goes by its file name's stem, the
    /// id its error result carries).
    pub fn select(&self, suite: Suite) -> Suite {
        let entries = suite
            .entries
            .into_iter()
            .filter(|entry| match entry {
                Entry::Loaded(scenario) => self.contains(&scenario.id),
                Entry::Broken(error) => self.contains(&error.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()),
            })
            .collect();
        Suite { entries }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shards_of_n_cover_every_id_exactly_once() {
        let ids: Vec<String> = (0..500).map(|i| format!("scenario-{i}")).collect();
        for count in 1..=5 {
            let shards: Vec<Shard> = (1..=count).map(|index| Shard { index, count }).collect();
            for id in &ids {
                assert_eq!(shards.iter().filter(|shard| shard.contains(id)).count(), 1, "{id} in {count} shards");
            }
            // Not degenerate: every shard gets some of 500 ids.
            assert!(shards.iter().all(|shard| ids.iter().any(|id| shard.contains(id))));
        }
    }

    #[test]
    fn bad_shards_are_errors() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/2", "3/2", "1/0", "x/2", "2", "1/1001"] {
            assert!(bad.parse::<Shard>().unwrap_err().contains("expected K/N"), "{bad}");
        }
    }
}
