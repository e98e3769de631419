//! What an exploration covered: taps by outcome, by device and key, by fault; lives by CA key
//! and CRL size, so a vendor sees what their reader met.

use std::collections::BTreeMap;

use mynatap_sim::life::{Life, PHONES, Step};
use serde::{Deserialize, Serialize};

use crate::play::ScenarioResult;

/// Counts over every life played.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Coverage {
    /// Lives played.
    pub lives: usize,
    /// Taps played.
    pub taps: usize,
    /// Steps played (taps included).
    pub steps: usize,
    /// Taps by what happened: `verified`, `rejected: certificate_revoked`, ...
    pub outcomes: BTreeMap<String, usize>,
    /// Taps by device and key: `card rsa2048`, `card p256 face`, `android`, `iphone`, `forged
    /// android`.
    pub devices: BTreeMap<String, usize>,
    /// Taps by fault.
    pub faults: BTreeMap<String, usize>,
    /// Lives by the CA's key.
    pub ca_keys: BTreeMap<String, usize>,
    /// Lives by other people's entries on the CRL: `0`, `1-59`, `60+`.
    pub crl_sizes: BTreeMap<String, usize>,
    /// Lives by how many people they hold.
    pub people: BTreeMap<usize, usize>,
    /// Lives by how many generations of the authority they trust (contract 1.3).
    #[serde(default)]
    pub authorities: BTreeMap<usize, usize>,
    /// Cards whose first certificate breaks the profile, by kind (contract 1.3).
    #[serde(default)]
    pub card_certificates: BTreeMap<String, usize>,
}

impl Coverage {
    /// Counts a life as far as it was played.
    pub fn add(&mut self, life: &Life, result: &ScenarioResult) {
        self.lives += 1;
        *self.ca_keys.entry(life.ca_key.name().to_owned()).or_default() += 1;
        let crl = match life.revoked_elsewhere {
            0 => "0",
            1..60 => "1-59",
            _ => "60+",
        };
        *self.crl_sizes.entry(crl.to_owned()).or_default() += 1;
        *self.people.entry(life.people.len()).or_default() += 1;
        *self.authorities.entry(life.ca_generations.len().max(1)).or_default() += 1;
        for fault in life.people.iter().filter_map(|person| person.certificate) {
            *self.card_certificates.entry(fault.name().to_owned()).or_default() += 1;
        }
        let played = life.expectations();
        for (played, step) in played.iter().zip(&result.steps) {
            self.steps += 1;
            let Some(how) = played.step.tap() else { continue };
            self.taps += 1;
            *self.outcomes.entry(step.actual.clone()).or_default() += 1;
            let device = match played.step {
                Step::TapCard { person, .. } => {
                    let key = life.people.get(*person).map_or("?", |p| p.card_key.name());
                    if how.face.is_some() { format!("card {key} face") } else { format!("card {key}") }
                }
                Step::TapPhone { phone, .. } if *phone >= PHONES.len() => played.os.map_or_else(|| "forged phone".to_owned(), |os| format!("forged {os}")),
                _ => played.os.map_or_else(|| "phone".to_owned(), |os| os.to_string()),
            };
            *self.devices.entry(device).or_default() += 1;
            if let Some(fault) = how.fault {
                *self.faults.entry(fault.name().to_owned()).or_default() += 1;
            }
        }
    }

    /// A few lines for people: what was met, and how often.
    pub fn lines(&self) -> String {
        fn join<K: std::fmt::Display>(map: &BTreeMap<K, usize>) -> String {
            let mut entries: Vec<(&K, &usize)> = map.iter().collect();
            entries.sort_by(|a, b| b.1.cmp(a.1));
            entries.iter().map(|(key, count)| format!("{key} {count}")).collect::<Vec<_>>().join(", ")
        }
        format!(
            "taps by outcome: {}\ntaps by device: {}\ntaps with a fault: {}\nlives by CA key: {}; by CRL padding: {}; by people: {}; by authorities trusted: {}\ncards whose certificate breaks the profile: {}\n",
            join(&self.outcomes),
            join(&self.devices),
            if self.faults.is_empty() { "none".to_owned() } else { join(&self.faults) },
            join(&self.ca_keys),
            join(&self.crl_sizes),
            join(&self.people),
            join(&self.authorities),
            if self.card_certificates.is_empty() { "none".to_owned() } else { join(&self.card_certificates) }
        )
    }
}
