#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a used one. Installs what the tests need when it is
# missing (openssl for the interop tests; run as root, as CI does), then runs every test of the
# workspace, checks that the benches build, and runs the conformance suite and its coverage.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: missing ${need_apt[*]}; install them (apt-get install ${need_apt[*]}) or run as root" >&2
    exit 2
  fi
  echo "== installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

echo "== cargo test (workspace)"
cargo test --workspace --locked

echo "== benches build"
cargo check --locked -p mynatap-benches --benches

echo "== conformance suite and coverage"
cargo run --locked -q -- run
cargo run --locked -q -- coverage
