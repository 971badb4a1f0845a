#!/usr/bin/env python3
"""PyTorch side of the side-by-side deq-dense benchmark (eager; one thread and float64 unless
--threads and --dtype f32 say otherwise).

    /usr/bin/python3 scripts/torch/bench.py latency --iters 30 --repeat 2000 --h 64 --p 64 --q 10 --seed 1
    /usr/bin/python3 scripts/torch/bench.py batch --tol 1e-4 --max-iter 100 --h 256 --p 64 --q 10 --batch 256
    /usr/bin/python3 scripts/torch/bench.py batch --model M.safetensors --input X.csv --dump-output y.csv

Model: either --model FILE.safetensors (deq-dense format) plus --input X.csv
(one sample per line), or a random model built from --h/--p/--q/--seed
(--param monotone|direct, --activation, --batch rows of N(0,1) inputs; save
them with --save-model/--save-input to feed the same model to the Go side).

Modes
  latency  one sample (first input row): exactly K = --iters evaluations of
           f(z) = act(W z + U x + b) starting from z = 0 (the first one is
           f(0)), no damping, no convergence test; then y = C z + c.
  batch    all rows at once, batched Anderson acceleration (DEQ / "Deep
           Implicit Layers" tutorial form: histories X, F [bsz, m, h], Gram
           matrix via torch.bmm, bordered (m+1)x(m+1) system via
           torch.linalg.solve, mixing beta) from z = 0, until the per-sample
           relative residual ||f(z)-z||/||f(z)|| of EVERY sample is <= --tol
           (i.e. max over the batch), then y = C z + c.  "iters" counts
           evaluations of f (the batched map), including the two initial ones.

Timing (perf_counter_ns around one forward) covers everything a forward does:
U x + b, the solve, allocation of z / histories, y = C z + c.  It excludes
model loading, CSV parsing and building W = (1-m)I - A^T A + B - B^T (done
once at load).  Prints one JSON object on stdout.  Exit code 3 without torch.
"""
import argparse
import json
import os
import platform
import re
import statistics
import sys
import time

# --threads N threads (default one), whatever BLAS / OpenMP torch was built
# with. Must precede `import torch`, so it is read off argv before argparse.
def _threads(argv):
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


THREADS = _threads(sys.argv)
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
           "GOTO_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_v] = THREADS

try:
    import numpy  # noqa: F401
    import torch
except Exception as e:  # pragma: no cover
    sys.stderr.write("bench.py: cannot import torch/numpy (%s). Run it with an interpreter "
                     "that has PyTorch, e.g. /usr/bin/python3 (Debian python3-torch).\n" % e)
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deq_common as dc  # noqa: E402

F64 = torch.float64


# --------------------------------------------------------------------------
# BLAS identification
# --------------------------------------------------------------------------
def blas_info():
    cfg = torch.__config__.show()
    info = " ".join(re.findall(r"\b(?:BLAS_INFO|LAPACK_INFO)=[^,\s]*", cfg))
    # What is actually mapped into this process (BLAS_INFO=generic means "whatever
    # libblas.so.3 the dynamic linker finds", e.g. Debian's alternatives).
    a = torch.ones(8, 8, dtype=F64)
    _ = a @ a
    libs = []
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                low = path.lower()
                if any(k in low for k in ("blas", "mkl", "blis", "lapack", "accelerate")) and path not in libs:
                    libs.append(path)
    except OSError:
        pass
    isblas = lambda p: any(k in os.path.basename(p).lower() for k in ("blas", "mkl", "blis"))
    blas_lib = next((os.path.realpath(p) for p in libs if isblas(p)), "")
    low = blas_lib.lower()
    if "openblas" in low:
        kind = "OpenBLAS"
    elif "mkl" in low:
        kind = "MKL"
    elif "blis" in low:
        kind = "BLIS"
    elif "atlas" in low:
        kind = "ATLAS"
    elif low.endswith(".so.3.11.0") or "/blas/libblas" in low:
        kind = "netlib reference BLAS"
    elif blas_lib:
        kind = "unknown"
    else:
        kind = "none found (statically linked or not loaded)"
    summary = "%s (%s); %s" % (kind, blas_lib or "-", info.strip())
    return summary, kind, blas_lib, cfg


# --------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------
def random_model(args):
    g = torch.Generator().manual_seed(args.seed)
    rn = lambda *s: torch.randn(*s, generator=g, dtype=F64)
    h, p, q = args.h, args.p, args.q
    model = dc.DEQDense(p, h, q, activation=args.activation, param=args.param, m=args.m)
    with torch.no_grad():
        model.encoder.weight.copy_(rn(h, p) / p ** 0.5)
        model.encoder.bias.copy_(0.3 * rn(h))
        model.decoder.weight.copy_(rn(q, h) / h ** 0.5)
        model.decoder.bias.copy_(0.1 * rn(q))
        if args.param == "direct":
            W = rn(h, h)
            W *= args.w_norm / dc.spectral_norm(W)
            model.core.weight.copy_(W)
        else:
            model.core.A.copy_(args.ab_scale * rn(h, h) / h ** 0.5)
            model.core.B.copy_(args.ab_scale * rn(h, h) / h ** 0.5)
    x = rn(args.batch, p)
    return model, x


# --------------------------------------------------------------------------
# forward passes (what is timed)
# --------------------------------------------------------------------------
def make_fixed_forward(W, U, b, C, c, act, K, impl):
    """K undamped evaluations of f from z = 0, then y = C z + c."""
    h = W.shape[0]
    if impl == "matmul":            # what the brief / most users write
        def forward(x):
            inj = x @ U.T + b
            z = torch.zeros(x.shape[0], h, dtype=W.dtype)
            for _ in range(K):
                z = act(z @ W.T + inj)
            return z @ C.T + c
    elif impl == "linear":          # nn.Linear-style: F.linear(z, W) + inj
        F = torch.nn.functional
        def forward(x):
            inj = F.linear(x, U, b)
            z = torch.zeros(x.shape[0], h, dtype=W.dtype)
            for _ in range(K):
                z = act(F.linear(z, W) + inj)
            return F.linear(z, C, c)
    elif impl == "addmm":           # fused bias add: torch.addmm(inj, z, W^T)
        WT, UT, CT = W.T, U.T, C.T
        def forward(x):
            inj = torch.addmm(b, x, UT)
            z = torch.zeros(x.shape[0], h, dtype=W.dtype)
            for _ in range(K):
                z = act(torch.addmm(inj, z, WT))
            return torch.addmm(c, z, CT)
    else:
        raise ValueError(impl)
    return forward


def anderson(f, z0, m=5, lam=1e-4, max_iter=50, tol=1e-4, beta=1.0):
    """Batched Anderson acceleration (Bai et al. DEQ / implicit-layers tutorial form).

    z0: [bsz, h].  Stops when max_i ||f(z_i)-z_i|| / ||f(z_i)|| <= tol, testing
    each new iterate X_k after its evaluation F_k = f(X_k) (k >= 1).
    max_iter bounds the number of evaluations of f.  Returns (z, max_res, n_evals)
    with z = X_k, the iterate whose residual was tested.
    """
    bsz, d = z0.shape
    X = torch.zeros(bsz, m, d, dtype=z0.dtype)
    F = torch.zeros(bsz, m, d, dtype=z0.dtype)
    X[:, 0], F[:, 0] = z0, f(z0)
    X[:, 1], F[:, 1] = F[:, 0], f(F[:, 0])
    evals = 2
    res = float(dc.rel_residual(F[:, 1], X[:, 1]).max())
    k = 1
    if res <= tol or evals >= max_iter:
        return X[:, 1].clone(), res, evals
    H = torch.zeros(bsz, m + 1, m + 1, dtype=z0.dtype)
    H[:, 0, 1:] = H[:, 1:, 0] = 1
    y = torch.zeros(bsz, m + 1, 1, dtype=z0.dtype)
    y[:, 0] = 1
    eye = lam * torch.eye(m, dtype=z0.dtype)[None]
    for k in range(2, max_iter):
        n = min(k, m)
        G = F[:, :n] - X[:, :n]
        H[:, 1:n + 1, 1:n + 1] = torch.bmm(G, G.transpose(1, 2)) + eye[:, :n, :n]
        alpha = torch.linalg.solve(H[:, :n + 1, :n + 1], y[:, :n + 1])[:, 1:n + 1, 0]   # [bsz, n]
        if beta == 1.0:
            X[:, k % m] = torch.bmm(alpha[:, None], F[:, :n])[:, 0]
        else:
            X[:, k % m] = (beta * torch.bmm(alpha[:, None], F[:, :n])[:, 0]
                           + (1 - beta) * torch.bmm(alpha[:, None], X[:, :n])[:, 0])
        F[:, k % m] = f(X[:, k % m])
        evals += 1
        res = float(dc.rel_residual(F[:, k % m], X[:, k % m]).max())
        if res <= tol:
            break
    return X[:, k % m].clone(), res, evals


def make_batch_forward(W, U, b, C, c, act, args):
    def forward(x):
        inj = x @ U.T + b
        f = lambda z: act(z @ W.T + inj)
        z0 = torch.zeros(x.shape[0], W.shape[0], dtype=W.dtype)
        z, res, evals = anderson(f, z0, m=args.anderson_m, lam=args.anderson_lam,
                                 max_iter=args.max_iter, tol=args.tol, beta=args.anderson_beta)
        forward.stats = (res, evals)
        return z @ C.T + c, z
    return forward


def timeit(fn, x, warmup, repeat):
    for _ in range(warmup):
        fn(x)
    ts = []
    pc = time.perf_counter_ns
    for _ in range(repeat):
        t0 = pc()
        fn(x)
        ts.append(pc() - t0)
    return statistics.median(ts) / 1e3, min(ts) / 1e3


def main():
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("model / input")
    g.add_argument("--model", help="deq-dense .safetensors file")
    g.add_argument("--input", help="CSV, one sample per line (required with --model)")
    g.add_argument("--h", type=int, help="random model: hidden size")
    g.add_argument("--p", type=int, default=64, help="random model: input size")
    g.add_argument("--q", type=int, default=10, help="random model: output size")
    g.add_argument("--seed", type=int, default=1, help="random model / input seed")
    g.add_argument("--batch", type=int, default=256, help="random model: number of input rows")
    g.add_argument("--param", choices=dc.PARAMS, default="monotone")
    g.add_argument("--activation", choices=dc.ACTIVATIONS, default="relu")
    g.add_argument("--m", type=float, default=0.5, help="monotone margin m (default 0.5)")
    g.add_argument("--ab-scale", type=float, default=0.3,
                   help="monotone: A, B entries ~ N(0, s^2/h) (default 0.3; with m=0.5 gives "
                        "||W||_2 ~ 0.92-0.95, so plain iteration converges too)")
    g.add_argument("--w-norm", type=float, default=0.9, help="direct: ||W||_2")
    g.add_argument("--save-model", help="write the (random) model here as safetensors")
    g.add_argument("--save-input", help="write the input rows here as CSV")
    o = common.add_argument_group("run")
    o.add_argument("--repeat", type=int, default=None, help="timed forwards (default 1000 latency / 20 batch)")
    o.add_argument("--warmup", type=int, default=None, help="untimed forwards first (default 50 / 3)")
    o.add_argument("--dump-output", help="write y (one row per sample) as CSV, %%.17g")
    o.add_argument("--dtype", choices=("f64", "f32"), default="f64", help="precision of the timed forwards")
    o.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (default 1)")
    o.add_argument("--show-config", action="store_true", help="also print torch.__config__.show() to stderr")

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    pl = sub.add_parser("latency", parents=[common], help="one sample, K plain iterations")
    pl.add_argument("--iters", type=int, default=30, help="K: evaluations of f from z = 0")
    pl.add_argument("--impl", choices=("matmul", "linear", "addmm"), default="matmul",
                    help="matmul: z @ W.T + inj (default); linear: F.linear; addmm: torch.addmm")
    pb = sub.add_parser("batch", parents=[common], help="whole batch, Anderson to --tol")
    pb.add_argument("--tol", type=float, default=1e-4)
    pb.add_argument("--max-iter", type=int, default=100, help="max evaluations of f")
    pb.add_argument("--anderson-m", type=int, default=5)
    pb.add_argument("--anderson-lam", type=float, default=1e-4)
    pb.add_argument("--anderson-beta", type=float, default=1.0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.set_grad_enabled(False)
    blas, blas_kind, blas_lib, cfg = blas_info()
    if args.show_config:
        sys.stderr.write(cfg)

    if args.model:
        if not args.input:
            ap.error("--model needs --input")
        model, meta, fdtype = dc.load_model(args.model)
        x = dc.read_csv(args.input)
        source = {"model": args.model, "input": args.input, "file_dtype": fdtype}
    else:
        if not args.h:
            ap.error("give --model/--input or --h (random model)")
        model, x = random_model(args)
        if args.input:
            x = dc.read_csv(args.input)
        source = {"random": True, "seed": args.seed, "ab_scale": args.ab_scale if args.param == "monotone" else None,
                  "w_norm_target": args.w_norm if args.param == "direct" else None}
    if args.save_model:
        dc.save_model(model, args.save_model)
    if args.save_input:
        dc.write_csv(args.save_input, x, fmt="repr")
    if x.shape[1] != model.p:
        ap.error("input has %d columns, model p=%d" % (x.shape[1], model.p))

    W, U, b, C, c = model.dense()          # W materialised once, not timed
    dtype = torch.float64 if args.dtype == "f64" else torch.float32
    W, U, b, C, c, x = (t.to(dtype).contiguous() for t in (W, U, b, C, c, x))
    act = dc.act_fn(model.activation)
    h = model.h
    out = {"mode": args.mode, "h": h, "p": model.p, "q": model.q,
           "activation": model.activation, "param": model.param,
           "w_norm2": dc.spectral_norm(W)}
    if model.param == "monotone":
        out["monotone_m"] = model.core.m

    with torch.no_grad():
        if args.mode == "latency":
            xs = x[:1].contiguous()
            fwd = make_fixed_forward(W, U, b, C, c, act, args.iters, args.impl)
            repeat = args.repeat or 1000
            warm = 50 if args.warmup is None else args.warmup
            med, mn = timeit(fwd, xs, warm, repeat)
            yout = fwd(xs)
            # residual of z_K (computed outside the timing)
            inj = xs @ U.T + b
            z = torch.zeros(1, h, dtype=W.dtype)
            for _ in range(args.iters):
                z = act(z @ W.T + inj)
            ref = z @ C.T + c
            assert torch.equal(ref, yout) or args.impl != "matmul"
            res = float(dc.rel_residual(act(z @ W.T + inj), z).max())
            out.update({"batch": 1, "iters": args.iters, "impl": args.impl, "converged": None})
        else:
            fwd = make_batch_forward(W, U, b, C, c, act, args)
            repeat = args.repeat or 20
            warm = 3 if args.warmup is None else args.warmup
            med, mn = timeit(fwd, x, warm, repeat)
            yout, z = fwd(x)
            res, evals = fwd.stats
            inj = x @ U.T + b
            res_chk = float(dc.rel_residual(act(z @ W.T + inj), z).max())
            eps = 1e-12 if args.dtype == "f64" else 1e-4
            assert abs(res_chk - res) <= eps * max(1.0, res), (res_chk, res)
            out.update({"batch": x.shape[0], "iters": evals, "converged": res <= args.tol,
                        "tol": args.tol, "max_iter": args.max_iter, "anderson_m": args.anderson_m,
                        "anderson_lam": args.anderson_lam, "anderson_beta": args.anderson_beta,
                        "iters_definition": "evaluations of f on the whole batch, incl. the 2 initial ones"})
    if args.dump_output:
        dc.write_csv(args.dump_output, yout, fmt="%.17g")

    out.update({
        "time_us_median": med, "time_us_min": mn, "repeat": repeat, "warmup": warm,
        "residual": res, "residual_definition": dc.RESIDUAL_DEFINITION,
        "torch_version": torch.__version__, "threads": torch.get_num_threads(),
        "blas": blas, "blas_kind": blas_kind, "blas_lib": blas_lib,
        "python": platform.python_version(), "dtype": args.dtype, "source": source,
    })
    print(json.dumps(out))


if __name__ == "__main__":
    main()
