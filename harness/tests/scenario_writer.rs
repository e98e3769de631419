//! The one scenario writer: generated lives written through the loader's own model load back
//! as written, and their text (a public artefact: shrunk failures, bundles) changes only by a
//! reviewed snapshot.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use mynatap_harness::explore::{GENERATED_COMMENT, life_id, life_tree};
use mynatap_harness::scenario::{REQUIREMENTS_MD, parse, requirement_ids};
use mynatap_sim::contract::Contract;
use proptest::strategy::ValueTree;

#[test]
fn generated_lives_load_back_with_every_step_the_model_plays() {
    let requirements = requirement_ids(REQUIREMENTS_MD);
    for contract in Contract::ALL {
        for index in 0..150 {
            let life = life_tree(3, index, contract).unwrap().current();
            let id = life_id(3, index);
            let text = mynatap_harness::scenario::life::file(&life, &id, GENERATED_COMMENT).unwrap();
            let loaded = parse(Path::new("life.yaml"), &text, &requirements).unwrap_or_else(|error| panic!("{error}\n{text}"));
            assert_eq!(loaded.contract, contract);
            assert_eq!(loaded.id, id);
            // A life the model plays no step of is written with one empty clock step.
            assert_eq!(loaded.steps.len(), life.expectations().len().max(1), "{text}");
        }
    }
}

#[test]
fn the_text_of_generated_lives_is_stable() {
    let mut texts = String::new();
    for contract in [Contract::V1_0, Contract::V1_3] {
        for index in 0..3 {
            let life = life_tree(7, index, contract).unwrap().current();
            texts.push_str(&mynatap_harness::scenario::life::file(&life, &life_id(7, index), GENERATED_COMMENT).unwrap());
            texts.push_str("---\n");
        }
    }
    insta::assert_snapshot!(texts);
}
