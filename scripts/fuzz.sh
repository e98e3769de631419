#!/usr/bin/env bash
# Fuzzes the parsers that read outside bytes, with cargo-fuzz (libFuzzer).
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 60 seconds each, all seven targets
# Targets: apdu_decode card_process terminal_response vpcd_frame scenario_loader http_request
# certifier_files. An input that takes over 5 s (-timeout) fails the run as a crash does.
# Seed corpora come from the conformance suite's transcripts (fuzz/corpus/, not checked in);
# crashes land in fuzz/artifacts/<target>/ and make this script fail. cargo-fuzz needs nightly
# flags: on the stable toolchain RUSTC_BOOTSTRAP=1 allows them.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(apdu_decode card_process terminal_response vpcd_frame scenario_loader http_request certifier_files)

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cargo run -q --locked -p mynatap-harness --example fuzz_corpus -- fuzz/corpus

cd fuzz
export RUSTC_BOOTSTRAP=1
cargo fuzz build
status=0
for target in "${targets[@]}"; do
  log="artifacts/$target.log"
  mkdir -p artifacts
  if cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -timeout=5 -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see fuzz/$log and fuzz/artifacts/$target/)"
    status=1
  fi
  runs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  rate=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
  echo "fuzz $target: ${seconds}s, ${runs:-?} runs, ${rate:-?} exec/s: $result"
done
exit $status
