#!/usr/bin/env python3
"""Generate PyTorch reference fixtures for the pnp kinds (pnp.py's PnP).

    /usr/bin/python3 scripts/torch/pnp_reference.py --out DIR [--seed N]

For each case NAME writes DIR/NAME.safetensors (the model), NAME.input.csv
(the observations, an image a line, row by row), NAME.output.csv (y* at the
fixed point by plain iteration to a relative residual <= 1e-14, or H(x) for
pnp-explicit), NAME.target.csv and NAME.grad.safetensors: the gradient of
L = sum_i 0.5 ||y*_i - target_i||^2 / B by autograd, through the fixed point
by the adjoint iteration u = J_G(y*)^T u + dL/dy* (as reference.py's
gnn-lp cases), and DIR/cases.json.  An F32 case also gets NAME.output_f32.csv,
PyTorch's float32 result: the module and x in torch.float32, the same plain
iteration in float32 to a residual <= 1e-6 (or the best iterate within 200
iterations without progress), recorded in cases.json as "output_f32" with
that solve's "residual_f32" and "ref_iters_f32".  Exit code 3 without torch.
"""
import argparse
import json
import math
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
try:
    import torch
except Exception as e:  # pragma: no cover
    sys.stderr.write("pnp_reference.py: cannot import torch (%s)\n" % e)
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deq_common as dc  # noqa: E402
from pnp import PnP  # noqa: E402

REQUIRED = 1e-13
REQUIRED_F32 = 1e-5  # what a float32 solve must reach (it aims for dc.TARGET_F32 = 1e-6)
PATIENCE = 200


def gaussian_kernel(kh, kw, sigma, delta=0.5):
    """A Gaussian plus delta at the centre (well conditioned, so G contracts
    even with an untrained denoiser), normalised; symmetric under each flip."""
    a = torch.arange(kh, dtype=torch.float64) - kh // 2
    c = torch.arange(kw, dtype=torch.float64) - kw // 2
    k = torch.exp(-(a[:, None] ** 2 + c[None, :] ** 2) / (2 * sigma ** 2))
    k = (1 - delta) * k / k.sum()
    k[kh // 2, kw // 2] += delta
    return k


# name, kind options, H, W, kernel (kh, kw, asymmetric?), depth, C, batch, dtype
CASES = [
    ("pnp_pgd_sym", dict(splitting="pgd", boundary="symmetric"), 6, 7, (3, 5, False), 3, 4, 2, "f64"),
    ("pnp_pgd_periodic_motion", dict(splitting="pgd", boundary="periodic"), 5, 8, (1, 5, True), 4, 3, 2, "f64"),
    ("pnp_hqs_sym", dict(splitting="hqs", boundary="symmetric"), 7, 6, (5, 3, False), 3, 4, 2, "f64"),
    ("pnp_hqs_periodic_f32", dict(splitting="hqs", boundary="periodic"), 6, 6, (3, 3, True), 3, 3, 2, "f32"),
    ("pnp_explicit", dict(explicit=True), 6, 5, None, 3, 4, 2, "f64"),
]


def case(spec, seed, idx, out_dir):
    name, opts, H, W, kspec, depth, C, B, dtype = spec
    g = torch.Generator().manual_seed(seed * 1000 + 1300 + idx)
    f32 = dtype == "f32"
    kernel = None
    if kspec:
        kh, kw, asym = kspec
        kernel = gaussian_kernel(kh, kw, 1.0)
        if asym:  # a motion-like kernel, not symmetric
            kernel = kernel + 0.05 * torch.rand(kh, kw, generator=g, dtype=torch.float64)
            kernel = kernel / kernel.sum()
    model = PnP(kernel=kernel, depth=depth, channels=C, gamma=0.8, beta=0.3, noise=0.03, **opts).double()
    with torch.no_grad():
        for k, t in model.named_parameters():
            if k.startswith("denoiser"):
                t.copy_(0.3 * torch.randn(*t.shape, generator=g, dtype=torch.float64) / math.sqrt(9 * max(1, t.shape[1] if t.dim() > 1 else 1)))
            if f32:
                t.copy_(t.float().double())
        if f32 and kernel is not None:
            model.kernel.copy_(model.kernel.float().double())
    x = torch.rand(B, 1, H, W, generator=g, dtype=torch.float64)
    if f32:
        x = x.float().double()
    target = torch.rand(B, 1, H, W, generator=g, dtype=torch.float64)
    params = dict(model.named_parameters())
    iters, adj, r = 0, 0, 0.0
    if model.explicit:
        y = model(x)
        loss = ((y - target) ** 2).sum() / (2 * B)
        gl = torch.autograd.grad(loss, list(params.values()))
        grads = {k: v.detach() for k, v in zip(params, gl)}
        y = y.detach()
    else:
        with torch.no_grad():
            inj = model.inject(x)
            ys = torch.zeros_like(x)
            for iters in range(1, 100000):
                fy = model.G(ys, inj)
                r = float(dc.rel_residual(fy.reshape(B, -1), ys.reshape(B, -1)).max())
                ys = fy
                if r <= 1e-15 or iters > 5000:
                    break
            if not (r <= REQUIRED):
                raise SystemExit("%s: reference residual %g > %g" % (name, r, REQUIRED))
            y = ys
        gy = (ys - target) / B  # dL/dy*, the readout being the identity
        yv = ys.detach().requires_grad_()
        fy = model.G(yv, model.inject(x))
        u = gy.clone()
        for adj in range(1, 100000):
            (ju,) = torch.autograd.grad(fy, yv, u, retain_graph=True)
            nu = ju + gy
            done = float(torch.linalg.vector_norm(nu - u)) <= 1e-15 * float(torch.linalg.vector_norm(nu))
            u = nu
            if done:
                break
        gm = torch.autograd.grad(fy, list(params.values()), u)
        grads = {k: v.detach() for k, v in zip(params, gm)}
    y32, solve32 = None, None
    if f32:
        # PyTorch float32: the module (weights, kernel, gamma/beta) and x in
        # float32, the same iteration in float32.
        m32 = dc.float32_copy(model)
        with torch.no_grad():
            x32 = x.float()
            if m32.explicit:
                y32 = m32(x32)
            else:
                inj32 = m32.inject(x32)
                solve32 = dc.iterate_best(lambda v: m32.G(v, inj32), torch.zeros_like(x32), dc.TARGET_F32, PATIENCE)
                y32 = solve32[0]
                if not (solve32[1] <= REQUIRED_F32):
                    raise SystemExit("%s: float32 reference residual %g > %g" % (name, solve32[1], REQUIRED_F32))
    flat = lambda t: t.reshape(t.shape[0], -1)
    sd = {k: (v.to(torch.float32) if f32 and v.is_floating_point() else v).detach().contiguous()
          for k, v in model.state_dict().items()}
    writer = dc.write_safetensors(os.path.join(out_dir, name + ".safetensors"), sd, model.metadata(height=H, width=W))
    dc.write_safetensors(os.path.join(out_dir, name + ".grad.safetensors"), grads)
    dc.write_csv(os.path.join(out_dir, name + ".input.csv"), flat(x), fmt="repr")
    dc.write_csv(os.path.join(out_dir, name + ".output.csv"), flat(y), fmt="%.17g")
    if f32:
        assert y32.dtype == torch.float32, y32.dtype
        dc.write_csv(os.path.join(out_dir, name + ".output_f32.csv"), flat(y32), fmt="%.17g")
    dc.write_csv(os.path.join(out_dir, name + ".target.csv"), flat(target), fmt="repr")
    kind = "pnp-explicit" if model.explicit else "pnp"
    print("%-24s %s %s %dx%d depth=%d C=%d %s iters=%-4d residual=%.1e adjoint %d iterations"
          % (name, kind, opts.get("splitting", ""), H, W, depth, C, dtype.upper(), iters, r, adj))
    info = {"name": name, "kind": kind, "splitting": opts.get("splitting"), "boundary": opts.get("boundary"),
            "height": H, "width": W, "depth": depth, "channels": C, "dtype": dtype.upper(), "n_samples": B,
            "ref_solver": "plain-iteration", "ref_iters": iters, "residual": r}
    if solve32 is not None:
        info.update({"residual_f32": solve32[1], "ref_iters_f32": solve32[2]})
        print("%-24s float32: iters=%-4d residual=%.1e" % (name, solve32[2], solve32[1]))
    info.update({"model": name + ".safetensors", "input": name + ".input.csv", "output": name + ".output.csv"})
    if f32:
        info["output_f32"] = name + ".output_f32.csv"
    info.update({"target": name + ".target.csv", "grad": name + ".grad.safetensors",
                 "loss": "sum over samples of 0.5*||y - target||^2, divided by n"})
    return writer, info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    listing, writer = [], None
    for idx, spec in enumerate(CASES):
        writer, info = case(spec, args.seed, idx, args.out)
        listing.append(info)
    doc = {"generator": "scripts/torch/pnp_reference.py",
           "command": "/usr/bin/python3 scripts/torch/pnp_reference.py --out DIR --seed %d" % args.seed,
           "seed": args.seed, "torch_version": torch.__version__.split("+")[0], "safetensors_writer": writer,
           "model": "pnp: y* = G(y*, x), pgd G = H(y - gamma A^T(Ay - x)), hqs G = H((A^T A + beta I)^-1 (A^T x + beta y)); "
                    "pnp-explicit: y = H(x); H(v) = v - denoiser(v); rows are images flattened row by row",
           "required_residual": REQUIRED, "cases": listing}
    with open(os.path.join(args.out, "cases.json"), "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
