//! The parts of a tap on their own: the APDU codec, one card command of each kind, and the whole
//! conformance suite in process.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use mynatap_harness::play::{MemoryPlayer, TapPlayer, discover, load_suite, run_suite};
use mynatap_harness::scenario::{REQUIREMENTS_MD, requirement_ids};
use mynatap_sim::apdu::{CommandApdu, ResponseApdu};
use mynatap_sim::credential::demo_card;
use mynatap_sim::profile::{DeviceKind, Profile};

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("apdu_codec");
    let select = hex("00A4040C0AD392F00026010000000100");
    let extended = {
        let mut bytes = vec![0x00, 0xD6, 0x00, 0x00, 0x00, 0x01, 0x33];
        bytes.extend(vec![0x5A; 307]);
        bytes.extend([0x00, 0x00]);
        bytes
    };
    group.bench_function("decode_short_select", |b| b.iter(|| CommandApdu::decode(black_box(&select))));
    group.bench_function("decode_extended_307", |b| b.iter(|| CommandApdu::decode(black_box(&extended))));
    let command = CommandApdu::decode(&select).expect("select");
    group.bench_function("encode_short_select", |b| b.iter(|| black_box(&command).encode()));
    let response = [vec![0x30; 256], vec![0x90, 0x00]].concat();
    group.bench_function("decode_response_256", |b| b.iter(|| ResponseApdu::decode(black_box(&response))));
    group.finish();
}

fn hex(text: &str) -> Vec<u8> {
    mynatap_sim::apdu::parse_hex(text).expect("hex")
}

/// A card in the state a command needs, built afresh for each bench so any filter may pick any
/// one of them alone (a bench never relies on what an earlier one left behind).
fn card_ready_for(setup: &[&str]) -> mynatap_sim::card::Card {
    let mut card = demo_card(Profile::builtin(DeviceKind::Card), 1, "1234").expect("card");
    for command in setup {
        let answer = card.process_bytes(&hex(command));
        assert!(answer.ends_with(&[0x90, 0x00]), "setup {command} answered {answer:02X?}");
    }
    card
}

fn card_commands(c: &mut Criterion) {
    let mut group = c.benchmark_group("card_command");
    const SELECT_JPKI: &str = "00A4040C0AD392F00026010000000100";
    let select_cert = hex("00A4020C02000A");
    let read = hex("00B0000000");
    let verify = hex("002000800431323334");
    // The physical card is RSA-2048: it signs a SHA-256 DigestInfo (51 bytes).
    let sign = hex(&format!("802A008033{}{}00", "3031300D060960864801650304020105000420", "11".repeat(32)));
    let mut card = card_ready_for(&[]);
    let select_jpki = hex(SELECT_JPKI);
    group.bench_function("select_aid", |b| b.iter(|| card.process_bytes(black_box(&select_jpki))));
    let mut card = card_ready_for(&[SELECT_JPKI]);
    group.bench_function("select_file", |b| b.iter(|| card.process_bytes(black_box(&select_cert))));
    let mut card = card_ready_for(&[SELECT_JPKI, "00A4020C02000A"]);
    group.bench_function("read_binary_256", |b| b.iter(|| card.process_bytes(black_box(&read))));
    let mut card = card_ready_for(&[SELECT_JPKI, "00A4020C020018"]);
    group.bench_function("verify", |b| b.iter(|| card.process_bytes(black_box(&verify))));
    let mut card = card_ready_for(&[SELECT_JPKI, "00A4020C020018", "002000800431323334", "00A4020C020017"]);
    assert!(card.process_bytes(&sign).ends_with(&[0x90, 0x00]));
    group.bench_function("sign_rsa2048", |b| b.iter(|| card.process_bytes(black_box(&sign))));
    group.finish();
}

fn suite(c: &mut Criterion) {
    let mut group = c.benchmark_group("conformance_suite");
    group.sample_size(10);
    let scenarios = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let files = discover(&[scenarios]).expect("scenarios");
    let requirements: BTreeSet<String> = requirement_ids(REQUIREMENTS_MD);
    let suite = load_suite(&files, &requirements, None);
    let make_player = || -> Box<dyn TapPlayer> { Box::new(MemoryPlayer) };
    group.bench_function(format!("{}_scenarios_one_thread", files.len()), |b| b.iter(|| run_suite(&suite, 1, 1, &make_player, &|_| {})));
    group.finish();
}

criterion_group!(benches, codec, card_commands, suite);
criterion_main!(benches);
