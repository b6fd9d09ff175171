#!/usr/bin/env bash
# Issue 3 closing figures: three real outputs — a failing `cargo build` with many errors, a pytest run with
# failures, a long install log — shaped by run_command: raw characters vs returned characters, and whether every
# error line of the raw output survived (in the head, the tail, or the kept error lines).
# Run with: scripts/measure/output_samples.sh [path/to/codebox]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$REPO/target/debug/codebox}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/proj/badcrate/src" "$W/proj/pyfail/tests"
cd "$W/proj"
# 1. A crate with 300 type errors.
printf '[package]\nname = "badcrate"\nversion = "0.1.0"\nedition = "2021"\n' > badcrate/Cargo.toml
for i in $(seq 1 300); do echo "pub fn f$i() -> u32 { \"not a number $i\" }"; done > badcrate/src/lib.rs
# 2. A pytest project with 80 failing tests and 20 passing ones.
: > pyfail/conftest.py
for i in $(seq 1 100); do
  if [ $((i % 5)) -eq 0 ]; then echo "def test_ok_$i(): assert True"; else echo "def test_bad_$i(): assert $i == $((i + 1)), 'value $i is off by one'"; fi
done > pyfail/tests/test_many.py
# 3. A long install log: pip resolving and installing a package verbosely (from the registry, outside the sandbox).
python3 -m pip install --no-cache-dir --target "$W/piptarget" -vvv requests flask > install.log 2>&1 || true
REPO=$REPO python3 - "$BIN" "$W/proj" <<'PY'
import os, re, subprocess, sys
sys.path.insert(0, os.path.join(os.environ["REPO"], "scripts/measure"))
from mcp_call import Codebox
binary, root = sys.argv[1], sys.argv[2]
samples = [
    ("cargo build, 300 errors", "cd badcrate && cargo build --offline --color never 2>&1", r"^error(\[E\d+\])?:"),
    ("pytest, 80 failures", "cd pyfail && python3 -m pytest -p no:cacheprovider 2>&1", r"^FAILED |Error"),
    ("pip install -vvv log", "cat install.log", r"(?i)\b(error|warning)\b"),
]
cb = Codebox(binary, root, dict(os.environ, XDG_STATE_HOME=os.path.join(root, "..", "state")))
print(f"{'output':<24} {'raw chars':>10} {'returned':>9} {'error lines':>12} {'survived':>9}")
for label, cmd, pat in samples:
    raw = subprocess.run(["bash", "-c", cmd], cwd=root, capture_output=True, text=True).stdout
    text, _, _ = cb.call("run_command", {"command": cmd, "timeout_secs": 300})
    errs = [l for l in raw.splitlines() if re.search(pat, l)]
    kept = [l for l in errs if l.strip()[:150] in text]
    print(f"{label:<24} {len(raw):>10} {len(text):>9} {len(errs):>12} {len(kept):>9}")
    lost = [l for l in errs if l not in kept]
    if lost:
        print(f"    not kept: {len(lost)}, e.g. {lost[0][:90]!r}; FAILED summary lines kept: {sum(1 for l in kept if l.startswith('FAILED '))}/{sum(1 for l in errs if l.startswith('FAILED '))}")
cb.close()
PY
