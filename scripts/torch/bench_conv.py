#!/usr/bin/env python3
"""Time a deq-conv model's forward solve in PyTorch, for `implicit bench`.

    /usr/bin/python3 scripts/torch/bench_conv.py --model M.safetensors --input X.csv \
        --batch N --dtype f64|f32 [--tol 1e-4] [--max-iter 100] [--anderson-lam 1e-4] [--repeat R]

Loads the model (deq_common.DEQConv, its state_dict strictly, eval mode), takes
the first N rows of the input (x.flatten(1) order), and times
stem/stem_norm, batched Anderson (bench.anderson, stopping when every
sample's relative residual is <= tol) and the head, on --threads threads (default one), no_grad,
in the dtype asked for. Prints one JSON line: time_us_median, time_us_min,
iters (evaluations of f), residual, blas_kind, blas_lib. Exit code 3 if
torch cannot be imported.
"""
import argparse
import json
import os
import sys

# bench sets the thread count (--threads, default 1) before it imports torch.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import anderson, blas_info, timeit  # noqa: E402
import torch  # noqa: E402
import deq_common as dc  # noqa: E402


def load_conv(path):
    tensors, meta = dc.read_safetensors(path)
    if meta.get("implicit.kind") != "deq-conv":
        raise SystemExit("%s: implicit.kind=%r, want deq-conv" % (path, meta.get("implicit.kind")))
    g = lambda k: int(meta["implicit." + k])
    C, c_in = tensors["stem.weight"].shape[:2]
    I = tensors["cell.conv1.weight"].shape[0]
    q = tensors["head.weight"].shape[0]
    model = dc.DEQConv(c_in, C, I, g("groups"), g("height"), g("width"), g("pool"), q)
    model.load_state_dict({k: (v.to(torch.float64) if v.is_floating_point() else v) for k, v in tensors.items()}, strict=True)
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--dtype", choices=("f64", "f32"), default="f64")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--anderson-m", type=int, default=5)
    ap.add_argument("--anderson-lam", type=float, default=1e-4)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (default 1)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.set_grad_enabled(False)
    _, blas_kind, blas_lib, _ = blas_info()
    dtype = torch.float64 if args.dtype == "f64" else torch.float32
    model = load_conv(args.model).to(dtype)
    s = model.shape
    x = dc.read_csv(args.input)[: args.batch].to(dtype).reshape(-1, s["c_in"], s["H"], s["W"])
    n = x.shape[0]
    shape = (n, s["C"], s["H"], s["W"])

    def forward(x):
        xt = model.inject(x)
        f = lambda z: model.cell(z.reshape(shape), xt).reshape(n, -1)
        z, res, evals = anderson(f, torch.zeros(n, s["C"] * s["H"] * s["W"], dtype=dtype), m=args.anderson_m,
                                 lam=args.anderson_lam, max_iter=args.max_iter, tol=args.tol)
        forward.stats = (res, evals)
        return model.readout(z.reshape(shape))

    med, mn = timeit(forward, x, args.warmup, args.repeat)
    res, evals = forward.stats
    print(json.dumps({"time_us_median": med, "time_us_min": mn, "iters": evals, "residual": res,
                      "batch": n, "dtype": args.dtype, "blas_kind": blas_kind, "blas_lib": blas_lib}))


if __name__ == "__main__":
    main()
