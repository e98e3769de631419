#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a used one:
#  1. installs what the tests need when it is missing (Debian packages; needs root, as in CI):
#     pcscd + vsmartcard-vpcd (the virtual reader), libpcsclite-dev + pkgconf (to build the
#     `pcsc` feature), opensc + pcsc-tools (outside programs the interop tests drive), openssl,
#     valgrind (the instruction-count gate), python3-pyscard + python3-cryptography (the example
#     reader in examples/python-reader, certified by the tests), default-jdk-headless when no
#     javac is on the PATH (Java's PKIX judges the certificates), gcc + python3 (a C reader run
#     under libpcsclite-dev's pcsc-spy for the capture test), chromium (the HTML report is rendered
#     in it headless); and jpki-cli from crates.io
#     (into target/tools: a client of real cards, driven by the interop tests);
#  2. starts pcscd when none is running, and stops it again at the end;
#  3. runs every test of the workspace with the `pcsc` feature (real PC/SC tests included),
#     builds the API docs with warnings denied, runs the library examples, checks that the
#     benches build, runs the instruction-count regression gate, and runs the conformance suite
#     and its coverage;
#  4. with MYNATAP_FUZZ=1 only: 60 seconds of each fuzz target (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(pcscd vsmartcard-vpcd libpcsclite-dev libssl-dev pkgconf gcc opensc pcsc-tools openssl valgrind python3 python3-pyscard python3-cryptography python3-jsonschema python3-yaml chromium)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# The JDK (javac, java) runs Java's PKIX as an outside judge of the certificates
# (harness/tests/outside_judges.rs); any JDK on the PATH will do.
command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: missing packages: ${missing[*]}" >&2
    echo "  install them (sudo apt-get install ${missing[*]}) or run this script as root" >&2
    exit 2
  fi
  echo "== installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

started_pcscd=""
stop_pcscd() {
  if [ -n "$started_pcscd" ]; then
    echo "== stopping the pcscd this script started (pid $started_pcscd)"
    kill "$started_pcscd" 2>/dev/null || true
    wait "$started_pcscd" 2>/dev/null || true
  fi
}
trap stop_pcscd EXIT

# A live pcscd (zombies of a killed one do not count) that has its socket is used as it is.
if pgrep -x -r R,S,D,I pcscd >/dev/null 2>&1; then
  if [ ! -S /run/pcscd/pcscd.comm ]; then
    echo "scripts/test.sh: a pcscd is running but /run/pcscd/pcscd.comm is missing; stop it and run again" >&2
    exit 2
  fi
else
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: pcscd is not running; start it (sudo pcscd) or run this script as root" >&2
    exit 2
  fi
  mkdir -p /run/pcscd
  flags=(-f)
  # pcsc-lite 2.x refuses clients in containers unless polkit is off; 1.9 has no such flag.
  if pcscd --help 2>&1 | grep -q -- --disable-polkit; then flags+=(--disable-polkit); fi
  echo "== starting pcscd ${flags[*]}"
  pcscd "${flags[@]}" >/tmp/mynatap-pcscd.log 2>&1 &
  started_pcscd=$!
  for _ in $(seq 1 50); do
    [ -S /run/pcscd/pcscd.comm ] && break
    sleep 0.1
  done
  [ -S /run/pcscd/pcscd.comm ] || { echo "scripts/test.sh: pcscd did not start; see /tmp/mynatap-pcscd.log" >&2; exit 2; }
fi

features=(--features mynatap-harness/pcsc,mynatap-drivers/pcsc)

# jpki-cli (crates.io), a client written for real My Number cards, for the interop tests; built
# once into target/tools (a debug build: about 40 s on 2 cores).
tools="$(realpath -m "${CARGO_TARGET_DIR:-target}")/tools"
if [ ! -x "$tools/bin/jpki-cli" ]; then
  echo "== installing jpki-cli 0.4.3 into $tools"
  cargo install jpki-cli --version 0.4.3 --locked --root "$tools" --debug --quiet
fi
export MYNATAP_JPKI_CLI="$tools/bin/jpki-cli"

echo "== rustfmt (rustfmt.toml; a file rustfmt would change is an error: run \`cargo fmt --all\`)"
if ! cargo fmt --version >/dev/null 2>&1; then rustup component add rustfmt >/dev/null 2>&1 || true; fi
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --all --check
else
  echo "rustfmt is not installed here and could not be added (rustup component add rustfmt): skipped"
fi

echo "== the sans-IO core (mynatap-sim) links no async runtime, socket or PC/SC library"
if cargo tree --locked -q -p mynatap-sim --all-features -e normal --prefix none | grep -E '^(tokio|mio|socket2|pcsc|pcsc-sys) '; then
  echo "scripts/test.sh: mynatap-sim depends on the IO above; it belongs in mynatap-drivers (sim/drivers)" >&2
  exit 1
fi
echo "== cargo test (workspace, with PC/SC)"
cargo test --workspace --locked "${features[@]}"

echo "== clippy (every target, every feature; a warning is an error)"
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --locked -q --workspace --all-targets --features mynatap-harness/pcsc,mynatap-drivers/pcsc,mynatap-sim/proptest -- -D warnings
  echo "== the harness as a library without its mutants (default-features = false)"
  cargo clippy --locked -q -p mynatap-harness --lib --no-default-features --features pcsc -- -D warnings
else
  echo "clippy is not installed here (rustup component add clippy): skipped"
fi

echo "== API docs (broken intra-doc links and HTML are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --lib -p mynatap-sim -p mynatap-drivers -p mynatap-harness \
  --features mynatap-harness/pcsc,mynatap-drivers/pcsc,mynatap-sim/proptest

echo "== library examples (README, "Use it as a library")"
cargo run --locked -q -p mynatap-sim --example card_loop </dev/null
cargo run --locked -q -p mynatap-sim --example tap_by_hand
cargo run --locked -q -p mynatap-sim --example card_responses_property
cargo run --locked -q -p mynatap-drivers --features pcsc --example serve_over_vpcd
cargo run --locked -q -p mynatap-harness --example play_scenario

echo "== benches and fuzz targets build (the fuzz targets run with MYNATAP_FUZZ=1 only)"
cargo check --locked -p mynatap-benches --benches
cargo check --locked -q --manifest-path fuzz/Cargo.toml --bins

echo "== instruction-count gate (callgrind; refresh on purpose: scripts/instruction-gate.sh --update)"
scripts/instruction-gate.sh

echo "== conformance suite and coverage (in memory)"
cargo run --locked -q -- run
cargo run --locked -q -- coverage

if [ "${MYNATAP_FUZZ:-0}" = "1" ]; then
  echo "== fuzzing, 60 s per target"
  scripts/fuzz.sh 60
fi
