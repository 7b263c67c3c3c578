"""One full-data regularized Newton step in NumPy/SciPy, the reference formulas of MATH.md.

Dense Gram blocks X^T diag(a_kk') X for the 55 class pairs, R = 2 eps (L^T L) kron I,
scipy.linalg.cho_factor / cho_solve, one Armijo evaluation. Prints one JSON object with the
wall seconds of each phase (keys ending in _s, summed in step_s) and the CPU seconds of the
process, all threads (keys ending in _cpu). Usage: reference_step.py MNIST_DIR [EPS]
"""
import gzip, json, os, sys, time

import numpy as np
import scipy.linalg as sla


def read_idx(path, magic):
    with open(path, "rb") as f:
        b = f.read()
    if b[:2] == b"\x1f\x8b":
        b = gzip.decompress(b)
    assert int.from_bytes(b[:4], "big") == magic, path
    n = int.from_bytes(b[4:8], "big")
    off = 16 if magic == 2051 else 8
    return np.frombuffer(b, dtype=np.uint8, offset=off).reshape(n, -1)


def find(d, name):
    for cand in (name + ".gz", name):
        p = os.path.join(d, cand)
        if os.path.exists(p):
            return p
    raise SystemExit(f"{name}: not found in {d}")


def laplacian():
    t = np.diag(np.full(28, 2.0)) + np.diag(np.ones(27), 1) + np.diag(np.ones(27), -1)
    return 0.5 * np.kron(t, t) - 8 * np.eye(784)


def objective(W, X, y, L, eps):
    z = X @ W
    m = z.max(axis=1, keepdims=True)
    lse = (m[:, 0] + np.log(np.exp(z - m).sum(axis=1)))
    ce = (lse - z[np.arange(len(y)), y]).mean()
    return ce + eps * ((L @ W) ** 2).sum()


def main():
    d = sys.argv[1]
    eps = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-3
    X = read_idx(find(d, "train-images-idx3-ubyte"), 2051).astype(np.float64) / 255
    y = read_idx(find(d, "train-labels-idx1-ubyte"), 2049)[:, 0].astype(np.int64)
    n = len(y)
    L = laplacian()
    W = np.zeros((784, 10))
    out = {"n": n, "eps": eps}

    t0, c0 = time.perf_counter(), time.process_time()
    z = X @ W
    P = np.exp(z - z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    Y = np.eye(10)[y]
    G = X.T @ (P - Y) / n + 2 * eps * (L.T @ (L @ W))
    out["gradient_s"], out["gradient_cpu"] = time.perf_counter() - t0, time.process_time() - c0

    t0, c0 = time.perf_counter(), time.process_time()
    H = np.empty((7840, 7840))
    for k in range(10):
        for k2 in range(k, 10):
            a = (P[:, k] * ((k == k2) - P[:, k2])) / n
            B = X.T @ (X * a[:, None])
            H[k::10, k2::10] = B
            if k2 != k:
                H[k2::10, k::10] = B.T
    out["assemble_s"], out["assemble_cpu"] = time.perf_counter() - t0, time.process_time() - c0

    t0, c0 = time.perf_counter(), time.process_time()
    H += 2 * eps * np.kron(L.T @ L, np.eye(10))
    out["add_R_s"], out["add_R_cpu"] = time.perf_counter() - t0, time.process_time() - c0

    t0, c0 = time.perf_counter(), time.process_time()
    c = sla.cho_factor(H, lower=True, overwrite_a=True, check_finite=False)
    out["cholesky_s"], out["cholesky_cpu"] = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    dvec = sla.cho_solve(c, -G.reshape(-1), check_finite=False)
    out["solve_s"], out["solve_cpu"] = time.perf_counter() - t0, time.process_time() - c0

    t0, c0 = time.perf_counter(), time.process_time()
    f0 = objective(W, X, y, L, eps)
    f1 = objective(W + dvec.reshape(784, 10), X, y, L, eps)
    out["line_search_s"], out["line_search_cpu"] = time.perf_counter() - t0, time.process_time() - c0
    out["objective_0"], out["objective_1"] = f0, f1
    out["step_s"] = sum(v for k, v in out.items() if k.endswith("_s"))
    out["step_cpu"] = sum(v for k, v in out.items() if k.endswith("_cpu"))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
