#!/usr/bin/env bash
# The regression gate CI can trust: instructions counted by valgrind's callgrind (the same count
# for the same binary and input, whatever the machine's load), not seconds.
#   scripts/instruction-gate.sh            compare with benches/instruction-baseline.txt; fail when a
#                                          workload grows more than 5 % over its baseline
#   scripts/instruction-gate.sh --update   measure and rewrite the baseline (commit it on purpose)
# Workloads (benches/src/bin/instruction_workload.rs): `tap` = 20 in-memory taps, `codec` = 10 000
# APDU decode/encode; only the instructions inside the workload function are counted.
set -euo pipefail
cd "$(dirname "$0")/.."
baseline=benches/instruction-baseline.txt
limit_percent=5
update=false
[ "${1:-}" = "--update" ] && update=true

command -v valgrind >/dev/null 2>&1 || { echo "instruction-gate: valgrind is missing (apt-get install valgrind)" >&2; exit 2; }
cargo build -q --release --locked -p mynatap-benches --bin instruction_workload
binary="${CARGO_TARGET_DIR:-target}/release/instruction_workload"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

measure() {
  local workload=$1 out="$scratch/$1.callgrind"
  # AWS-LC picks its code by the CPU's features (AVX2, ADX, SHA...): counted with only what every
  # x86-64 has (SSE2; ECX and the extended features cleared, and the vendor bit), the count is the
  # same on any CI machine. Real runs use every feature the CPU has.
  OPENSSL_ia32cap="~0xffffffff40000000:~0xffffffffffffffff" valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
    --toggle-collect="*instruction_workload::workload_$workload*" "$binary" "$workload" >/dev/null 2>"$scratch/$workload.log" \
    || { cat "$scratch/$workload.log" >&2; exit 2; }
  grep -E '^(summary|totals):' "$out" | head -n1 | awk '{print $2}'
}

status=0
declare -A counts
for workload in tap codec; do
  counts[$workload]=$(measure "$workload")
  if [ -z "${counts[$workload]}" ] || [ "${counts[$workload]}" -eq 0 ]; then
    echo "instruction-gate: no instructions counted for $workload (did the function name change?)" >&2
    exit 2
  fi
done

if $update; then
  { echo "# Instructions (callgrind Ir) inside each workload; refresh: scripts/instruction-gate.sh --update"
    for workload in tap codec; do echo "$workload ${counts[$workload]}"; done; } > "$baseline"
  echo "instruction-gate: baseline written to $baseline"
  cat "$baseline"
  exit 0
fi

[ -f "$baseline" ] || { echo "instruction-gate: no $baseline; create it with --update" >&2; exit 2; }
for workload in tap codec; do
  base=$(awk -v w="$workload" '$1 == w {print $2}' "$baseline")
  [ -n "$base" ] || { echo "instruction-gate: $workload missing from $baseline" >&2; exit 2; }
  now=${counts[$workload]}
  change=$(awk -v n="$now" -v b="$base" 'BEGIN { printf "%+.2f", (n - b) * 100 / b }')
  if awk -v n="$now" -v b="$base" -v l="$limit_percent" 'BEGIN { exit !(n > b * (1 + l / 100)) }'; then
    echo "instruction-gate: $workload REGRESSED: $now instructions, baseline $base ($change %, limit +$limit_percent %)"
    status=1
  else
    echo "instruction-gate: $workload ok: $now instructions, baseline $base ($change %)"
  fi
done
exit $status
