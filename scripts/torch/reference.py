#!/usr/bin/env python3
"""Generate PyTorch reference fixtures for deq-dense, mlp, deq-conv and cnn models.

    /usr/bin/python3 scripts/torch/reference.py --out DIR [--seed N] [--dtype f64|f32]

For each case NAME writes DIR/NAME.safetensors (model), DIR/NAME.input.csv
(one sample per line, no header, shortest round-trip repr), DIR/NAME.output.csv
(y at the fixed point, %.17g) and one DIR/cases.json describing all cases.

The fixed point is computed in float64 with a method that is guaranteed to
converge for the case (plain iteration for contractive direct models,
Peaceman-Rachford splitting (monDEQ, Winston & Kolter 2020) for monotone
models) until the per-sample relative residual ||f(z)-z||/||f(z)|| is
<= 1e-15 where possible (else its float64 floor); every case is checked to be <= 1e-12.

For an F32 case it also writes DIR/NAME.output_f32.csv: PyTorch's float32
result, the model and the inputs in torch.float32 and the same iteration run
in float32 until the residual is <= 1e-6 (or the best iterate within the
patience), then the readout in float32; cases.json records it as
"output_f32", with that solve's "residual_f32" and "ref_iters_f32".
Exit code 3 if torch/numpy cannot be imported.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

try:
    import numpy  # noqa: F401
    import torch
except Exception as e:  # pragma: no cover
    sys.stderr.write("reference.py: cannot import torch/numpy (%s). Run it with an interpreter "
                     "that has PyTorch, e.g. /usr/bin/python3 (Debian python3-torch).\n" % e)
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deq_common as dc  # noqa: E402

TARGET = 1e-15      # what the solvers aim for (they also stop after 200 iterations without progress)
PATIENCE = 200
REQUIRED = 1e-12    # what every case must reach (asserted)
REQUIRED_F32 = 1e-5  # what every float32 solve must reach (it aims for dc.TARGET_F32 = 1e-6)

# name, h, p, q, activation, param, n_rows, extra
#   direct: "w_norm" = spectral norm W is scaled to (contraction => plain iteration converges)
#   monotone: "m", "a", "b" = scales of A, B (entries ~ N(0, s^2/h))
CASES = [
    ("direct_relu", 16, 8, 3, "relu", "direct", 12, {"w_norm": 0.8}),
    ("direct_tanh", 32, 5, 2, "tanh", "direct", 10, {"w_norm": 0.9,
                                                       "meta": {"implicit.tol": repr(1e-12),
                                                                "implicit.max_iter": "1000"}}),
    ("direct_identity", 8, 4, 4, "identity", "direct", 6, {"w_norm": 0.6}),
    ("monotone_relu", 24, 6, 3, "relu", "monotone", 16, {"m": 0.1, "a": 1.0, "b": 1.0,
                                                          "require_w_norm_gt_1": True}),
    ("monotone_tanh", 16, 4, 2, "tanh", "monotone", 8, {"m": 0.1, "a": 0.8, "b": 0.8}),
    ("monotone_identity", 10, 3, 2, "identity", "monotone", 5, {"m": 0.5, "a": 0.7, "b": 0.7}),
    ("direct_tanh_f32", 12, 3, 2, "tanh", "direct", 8, {"w_norm": 0.85, "dtype": "f32"}),
]

# The mlp kind (the explicit baseline, one evaluation): name, h, p, q,
# activation, n_rows, file dtype.
MLP_CASES = [
    ("mlp_relu", 12, 5, 3, "relu", 7, "f64"),
    ("mlp_tanh_f32", 9, 4, 2, "tanh", 5, "f32"),
]


# The deq-conv kind: name, c_in, H, W, C, I, G, P, q, n_rows, cell weight std,
# file dtype. The cell's weights are small, as the tutorial initialises them,
# so that plain iteration converges and gives the reference fixed point.
CONV_CASES = [
    ("conv_c1", 1, 8, 8, 8, 16, 4, 2, 10, 5, 0.02, "f64"),
    ("conv_c3", 3, 6, 4, 6, 4, 2, 2, 3, 4, 0.03, "f64"),
    ("conv_c3_f32", 3, 4, 4, 4, 8, 2, 2, 2, 3, 0.02, "f32"),
]


def implicit_grads(params, g_read, gz, fz, z):
    """The implicit gradient at a fixed point z* = f(z*): the adjoint
    u = J_f(z*)^T u + gz solved by iteration (to 1e-15 relative), then
    u^T df/dtheta added to the readout's gradients g_read, tensor by tensor.
    fz is f evaluated at z (z requiring grad). Returns the gradients by name
    and the adjoint's iterations."""
    u = gz.clone()
    for adj in range(1, 100000):
        (ju,) = torch.autograd.grad(fz, z, u, retain_graph=True)
        nu = ju + gz
        done = float(torch.linalg.vector_norm(nu - u)) <= 1e-15 * float(torch.linalg.vector_norm(nu))
        u = nu
        if done:
            break
    g_map = torch.autograd.grad(fz, list(params.values()), u, allow_unused=True)
    grads = {}
    for (k, p), a, b in zip(params.items(), g_read, g_map):
        total = torch.zeros_like(p)
        for part in (a, b):
            if part is not None:
                total = total + part
        grads[k] = total.detach()
    return grads, adj


def float32_reference(out_dir, name, info, y32, solve=None):
    """Writes PyTorch's float32 outputs y32 as NAME.output_f32.csv and returns
    info with "output_f32" (after "output") and, for an implicit case, the
    float32 solve's (iterate, residual, iterations): "residual_f32" and
    "ref_iters_f32" (after "residual")."""
    assert y32.dtype == torch.float32, y32.dtype
    dc.write_csv(os.path.join(out_dir, name + ".output_f32.csv"), y32, fmt="%.17g")
    extra = {"output": {"output_f32": name + ".output_f32.csv"}}
    if solve is not None:
        _, r32, it32 = solve
        if not (r32 <= REQUIRED_F32):
            raise SystemExit("%s: float32 reference residual %g > %g" % (name, r32, REQUIRED_F32))
        extra["residual"] = {"residual_f32": r32, "ref_iters_f32": it32}
        print("%-18s float32: iters=%-4d residual=%.2e" % (name, it32, r32))
    out = {}
    for k, v in info.items():
        out[k] = v
        out.update(extra.pop(k, {}))
    for v in extra.values():
        out.update(v)
    return out


def conv_case(spec, seed, idx, out_dir):
    """Writes a deq-conv case: PyTorch's fixed point and outputs, and the
    implicit gradient of an MSE loss by autograd, for the Go side to match."""
    name, c_in, H, W, C, I, G, P, q, n, std, dtype = spec
    g = torch.Generator().manual_seed(seed * 1000 + 700 + idx)
    rn = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    model = dc.DEQConv(c_in, C, I, G, H, W, P, q)
    f32 = dtype == "f32"
    with torch.no_grad():
        model.stem.weight.copy_(rn(C, c_in, 3, 3) / (9 * c_in) ** 0.5)
        model.stem.bias.copy_(0.3 * rn(C))
        for bn in (model.stem_norm, model.head_norm):
            bn.weight.copy_(1 + 0.2 * rn(C))
            bn.bias.copy_(0.2 * rn(C))
            bn.running_mean.copy_(0.3 * rn(C))
            bn.running_var.copy_(0.5 + torch.rand(C, generator=g, dtype=torch.float64))
            bn.num_batches_tracked.fill_(100 + idx)
        model.cell.conv1.weight.copy_(std * rn(I, C, 3, 3))
        model.cell.conv2.weight.copy_(std * rn(C, I, 3, 3))
        for gn in (model.cell.norm1, model.cell.norm2, model.cell.norm3):
            gn.weight.copy_(1 + 0.2 * rn(gn.num_channels))
            gn.bias.copy_(0.2 * rn(gn.num_channels))
        feat = C * (H // P) * (W // P)
        model.head.weight.copy_(rn(q, feat) / feat ** 0.5)
        model.head.bias.copy_(0.1 * rn(q))
        if f32:
            for t in model.state_dict().values():
                if t.is_floating_point():
                    t.copy_(t.float().double())
    x = rn(n, c_in, H, W)
    if f32:
        x = x.float().double()
    target = rn(n, q)

    with torch.no_grad():
        xt = model.inject(x)
        z = torch.zeros(n, C, H, W, dtype=torch.float64)
        flat = lambda t: t.reshape(n, -1)
        best, iters = None, 0
        for k in range(1, 100000):
            fz = model.cell(z, xt)
            r = float(dc.rel_residual(flat(fz), flat(z)).max())
            if best is None or r < best[1]:
                best = (fz, r, k)
            if r <= TARGET or k - best[2] > PATIENCE:
                break
            z = fz
        z, r, iters = best
        if not (r <= REQUIRED):
            raise SystemExit("%s: reference residual %g > %g" % (name, r, REQUIRED))
        y = model.readout(z)

    # The implicit gradient of L = sum over samples of ½‖y − target‖², over n:
    # the readout's parameters at z* fixed, then u = J_f(z*)ᵀ u + ∂L/∂z*
    # solved by iteration, and uᵀ ∂f/∂θ for the cell's and the stem's.
    params = {k: p for k, p in model.named_parameters()}
    zs = z.detach().requires_grad_()
    loss = ((model.readout(zs) - target) ** 2).sum() / (2 * n)
    gz, *g_read = torch.autograd.grad(loss, [zs] + list(params.values()), allow_unused=True)
    zs2 = z.detach().requires_grad_()
    fz = model.cell(zs2, model.inject(x))
    grads, adj = implicit_grads(params, g_read, gz, fz, zs2)

    if f32:
        # PyTorch float32: the module and x in float32, the same iteration.
        m32 = dc.float32_copy(model)
        with torch.no_grad():
            xt32 = m32.inject(x.float())
            solve32 = dc.iterate_best(lambda z: m32.cell(z, xt32), torch.zeros_like(xt32), dc.TARGET_F32, PATIENCE)
            y32 = m32.readout(solve32[0])

    writer = dc.save_model(model, os.path.join(out_dir, name + ".safetensors"),
                           dtype=torch.float32 if f32 else torch.float64)
    dc.write_safetensors(os.path.join(out_dir, name + ".grad.safetensors"), grads)
    dc.write_csv(os.path.join(out_dir, name + ".input.csv"), x.reshape(n, -1), fmt="repr")
    dc.write_csv(os.path.join(out_dir, name + ".output.csv"), y, fmt="%.17g")
    dc.write_csv(os.path.join(out_dir, name + ".target.csv"), target, fmt="repr")
    tensors, _ = dc.read_safetensors(os.path.join(out_dir, name + ".safetensors"))
    for k, v in model.state_dict().items():
        assert torch.equal(tensors[k].to(v.dtype), v), k
    print("%-18s c_in=%d %dx%d C=%d I=%d G=%d P=%d q=%d %s plain-iteration iters=%-4d residual=%.2e, adjoint %d iterations"
          % (name, c_in, H, W, C, I, G, P, q, "F32" if f32 else "F64", iters, r, adj))
    info = {"name": name, "kind": "deq-conv", "c_in": c_in, "H": H, "W": W, "C": C, "I": I, "G": G, "P": P, "q": q,
            "dtype": "F32" if f32 else "F64", "n_samples": n, "ref_solver": "plain-iteration", "ref_iters": iters,
            "residual": r, "model": name + ".safetensors", "input": name + ".input.csv",
            "output": name + ".output.csv", "target": name + ".target.csv", "grad": name + ".grad.safetensors",
            "loss": "sum over samples of 0.5*||y - target||^2, divided by n"}
    if f32:
        info = float32_reference(out_dir, name, info, y32, solve32)
    return writer, info


# The cnn kind: name, c_in, H, W, C, I, G, P, q, depth, n_rows, cell std, dtype.
CNN_CASES = [
    ("cnn_d2", 3, 6, 4, 6, 4, 2, 2, 3, 2, 4, 0.3, "f64"),
]


def cnn_case(spec, seed, idx, out_dir):
    """Writes a cnn case: the module's forward pass, and the gradient of an
    MSE loss by autograd."""
    name, c_in, H, W, C, I, G, P, q, depth, n, std, dtype = spec
    g = torch.Generator().manual_seed(seed * 1000 + 900 + idx)
    rn = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    model = dc.CNN(c_in, C, I, G, H, W, P, q, depth)
    with torch.no_grad():
        for k, t in model.state_dict().items():
            if k.endswith("num_batches_tracked"):
                t.fill_(3)
            elif k.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g, dtype=torch.float64))
            elif "norm" in k and k.endswith("weight"):
                t.copy_(1 + 0.2 * rn(*t.shape))
            elif "cells" in k and "conv" in k:
                t.copy_(std * rn(*t.shape))
            else:
                t.copy_(rn(*t.shape) / max(1, t[0].numel()) ** 0.5)
    x, target = rn(n, c_in, H, W), rn(n, q)
    with torch.no_grad():
        y = model(x)
    params = dict(model.named_parameters())
    loss = ((model(x) - target) ** 2).sum() / (2 * n)
    grads = dict(zip(params, (gr.detach() for gr in torch.autograd.grad(loss, list(params.values())))))
    writer = dc.save_model(model, os.path.join(out_dir, name + ".safetensors"))
    dc.write_safetensors(os.path.join(out_dir, name + ".grad.safetensors"), grads)
    dc.write_csv(os.path.join(out_dir, name + ".input.csv"), x.reshape(n, -1), fmt="repr")
    dc.write_csv(os.path.join(out_dir, name + ".output.csv"), y, fmt="%.17g")
    dc.write_csv(os.path.join(out_dir, name + ".target.csv"), target, fmt="repr")
    print("%-18s c_in=%d %dx%d C=%d I=%d G=%d P=%d q=%d depth %d F64 one evaluation" % (name, c_in, H, W, C, I, G, P, q, depth))
    return writer, {"name": name, "kind": "cnn", "c_in": c_in, "H": H, "W": W, "C": C, "I": I, "G": G, "P": P, "q": q,
                    "depth": depth, "dtype": "F64", "n_samples": n, "model": name + ".safetensors", "input": name + ".input.csv",
                    "output": name + ".output.csv", "target": name + ".target.csv", "grad": name + ".grad.safetensors",
                    "loss": "sum over samples of 0.5*||y - target||^2, divided by n"}


def mlp_case(spec, seed, idx, out_dir):
    """Writes an mlp case: y is the module's own forward pass."""
    name, h, p, q, act_name, n, dtype = spec
    g = torch.Generator().manual_seed(seed * 1000 + 500 + idx)
    rn = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    model = dc.MLP(p, h, q, activation=act_name)
    f32 = dtype == "f32"
    with torch.no_grad():
        for prm in model.parameters():
            prm.copy_(rn(*prm.shape) / prm.shape[-1] ** 0.5)
            if f32:
                prm.copy_(prm.float().double())
        x = rn(n, p)
        if f32:
            x = x.float().double()
        y = model(x)
        y32 = dc.float32_copy(model)(x.float()) if f32 else None
    writer = dc.save_model(model, os.path.join(out_dir, name + ".safetensors"),
                           dtype=torch.float32 if f32 else torch.float64)
    dc.write_csv(os.path.join(out_dir, name + ".input.csv"), x, fmt="repr")
    dc.write_csv(os.path.join(out_dir, name + ".output.csv"), y, fmt="%.17g")
    tensors, _ = dc.read_safetensors(os.path.join(out_dir, name + ".safetensors"))
    for k, v in model.state_dict().items():
        assert torch.equal(tensors[k].to(torch.float64), v), k
    print("%-18s h=%-3d p=%-2d q=%d %-8s mlp      %s one evaluation" % (name, h, p, q, act_name, "F32" if f32 else "F64"))
    info = {"name": name, "kind": "mlp", "h": h, "p": p, "q": q, "activation": act_name,
            "dtype": "F32" if f32 else "F64", "n_samples": n,
            "model": name + ".safetensors", "input": name + ".input.csv", "output": name + ".output.csv"}
    if f32:
        info = float32_reference(out_dir, name, info, y32)
    return writer, info


def f_map(W, inj, act):
    return lambda z: act(z @ W.T + inj)


def plain_iteration(W, inj, act, max_iter=100000, target=TARGET):
    """z <- f(z) from z = 0; stops when max_i r_i <= target. Returns (z, r, iters)."""
    f = f_map(W, inj, act)
    z = torch.zeros_like(inj)
    best = None
    for k in range(1, max_iter + 1):
        fz = f(z)
        r = dc.rel_residual(fz, z)
        rmax = float(r.max())
        if best is None or rmax < best[1]:
            best = (z, rmax, k)
        if rmax <= target or not torch.isfinite(fz).all() or k - best[2] > PATIENCE:
            break
        z = fz
    return best


def peaceman_rachford(W, inj, act, alpha, max_iter=200000, target=TARGET):
    """monDEQ Peaceman-Rachford splitting for z = act(W z + inj), I - W strongly monotone.

        u_{k+1/2} = 2 z_k - u_k
        z_{k+1/2} = (I + alpha (I - W))^{-1} (u_{k+1/2} + alpha inj)
        u_{k+1}   = 2 z_{k+1/2} - u_{k+1/2}
        z_{k+1}   = act(u_{k+1})          (act = prox_{alpha f} of a CCP function f)

    Converges for every alpha > 0 when I - W is m-strongly monotone (m > 0).
    Stops on the true fixed-point residual of z_k. Returns (z, r, iters).
    """
    f = f_map(W, inj, act)
    h = W.shape[0]
    eye = torch.eye(h, dtype=W.dtype)
    M = (1.0 + alpha) * eye - alpha * W           # I + alpha (I - W)
    LU, piv = torch.linalg.lu_factor(M)
    z = torch.zeros_like(inj)
    u = torch.zeros_like(inj)
    best = None
    for k in range(1, max_iter + 1):
        u12 = 2 * z - u
        rhs = (u12 + alpha * inj).T                # [h, n]
        z12 = torch.linalg.lu_solve(LU, piv, rhs).T
        u = 2 * z12 - u12
        z = act(u)
        rmax = float(dc.rel_residual(f(z), z).max())
        if best is None or rmax < best[1]:
            best = (z, rmax, k)
        if rmax <= target or not torch.isfinite(z).all() or k - best[2] > PATIENCE:
            break
    return best


def build_case(spec, seed, idx, force_f32):
    name, h, p, q, act_name, param, n, extra = spec
    g = torch.Generator().manual_seed(seed * 1000 + idx)
    rn = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    model = dc.DEQDense(p, h, q, activation=act_name, param=param, m=extra.get("m"))
    with torch.no_grad():
        model.encoder.weight.copy_(rn(h, p) / p ** 0.5)
        model.encoder.bias.copy_(0.3 * rn(h))
        model.decoder.weight.copy_(rn(q, h) / h ** 0.5)
        model.decoder.bias.copy_(0.1 * rn(q))
        if param == "direct":
            W = rn(h, h)
            W *= extra["w_norm"] / dc.spectral_norm(W)
            model.core.weight.copy_(W)
        else:
            model.core.A.copy_(extra["a"] * rn(h, h) / h ** 0.5)
            model.core.B.copy_(extra["b"] * rn(h, h) / h ** 0.5)
    x = rn(n, p)
    f32 = force_f32 or extra.get("dtype") == "f32"
    if f32:
        # Round everything to float32 first: the reference then solves exactly the
        # model (and inputs) that a reader of the F32 file / CSV sees.
        with torch.no_grad():
            for prm in model.parameters():
                prm.copy_(prm.float().double())
        x = x.float().double()
    return model, x, f32


# The gnn-lp kinds: name, explicit, m, n, d, nonzeros of A, n_rows, weight scale, dtype.
GNN_CASES = [
    ("gnn_lp_d3", False, 3, 5, 3, 7, 4, 1.2, "f64"),
    ("gnn_lp_d2_f32", False, 2, 4, 2, 5, 3, 1.2, "f32"),
    ("gnn_lp_explicit_d3", True, 3, 5, 3, 7, 4, 1.0, "f64"),
]


def gnn_case(spec, seed, idx, out_dir):
    """Writes a gnn-lp case: PyTorch's fixed point y* by plain iteration and
    the outputs, and the gradient of an MSE loss by autograd (through the
    fixed point by the adjoint iteration, as conv_case does)."""
    name, explicit, m, n, d, nnz, B, scale, dtype = spec
    g = torch.Generator().manual_seed(seed * 1000 + 1100 + idx)
    rn = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    model = dc.GNNLP(m, n, d, explicit=explicit)
    f32 = dtype == "f32"
    with torch.no_grad():
        for k, t in model.state_dict().items():
            if t.dim() == 2:
                t.copy_(scale * rn(*t.shape) / t.shape[1] ** 0.5)
            else:
                t.copy_(0.1 * rn(*t.shape))
            if f32:
                t.copy_(t.float().double())
    rows = []
    for _ in range(B):
        fc = torch.stack([2 * torch.rand(m, generator=g, dtype=torch.float64) - 1,
                          (torch.rand(m, generator=g, dtype=torch.float64) < 0.3).double()], dim=1)
        lo, hi = 3 * rn(n), 3 * rn(n)
        fv = torch.stack([0.1 * (2 * torch.rand(n, generator=g, dtype=torch.float64) - 1),
                          torch.minimum(lo, hi), torch.maximum(lo, hi)], dim=1)
        A = torch.zeros(m * n, dtype=torch.float64)
        A[torch.randperm(m * n, generator=g)[:nnz]] = rn(nnz)
        rows.append(torch.cat([fc.reshape(-1), fv.reshape(-1), A]))
    x = torch.stack(rows)
    if f32:
        x = x.float().double()
    target = rn(B, n)
    params = dict(model.named_parameters())
    iters, adj, r = 0, 0, 0.0
    if explicit:
        with torch.no_grad():
            y = model.explicit_forward(x)
        loss = ((model.explicit_forward(x) - target) ** 2).sum() / (2 * B)
        gl = torch.autograd.grad(loss, list(params.values()))
        grads = {k: v.detach() for k, v in zip(params, gl)}
        if f32:
            with torch.no_grad():
                y32, solve32 = dc.float32_copy(model).explicit_forward(x.float()), None
    else:
        with torch.no_grad():
            sc, sv, A = model.inject(x)
            ys = torch.zeros(B, n, dtype=torch.float64)
            for iters in range(1, 100000):
                fy = model.deq_func(ys, sc, sv, A)
                r = float(dc.rel_residual(fy, ys).max())
                ys = fy
                if r <= TARGET:
                    break
            if not (r <= REQUIRED):
                raise SystemExit("%s: reference residual %g > %g" % (name, r, REQUIRED))
            y = model.readout(sv, ys)
        # L = sum over samples of ½‖yhat − target‖², over B; the readout at y*
        # fixed, then u = J_G(y*)ᵀ u + ∂L/∂y* by iteration, and uᵀ ∂G/∂θ.
        yv = ys.detach().requires_grad_()
        sc, sv, A = model.inject(x)
        loss = ((model.readout(sv, yv) - target) ** 2).sum() / (2 * B)
        gy, *g_read = torch.autograd.grad(loss, [yv] + list(params.values()), allow_unused=True)
        yv2 = ys.detach().requires_grad_()
        sc, sv, A = model.inject(x)
        fy = model.deq_func(yv2, sc, sv, A)
        grads, adj = implicit_grads(params, g_read, gy, fy, yv2)
        if f32:
            # PyTorch float32: the module and x in float32, the same iteration.
            m32 = dc.float32_copy(model)
            with torch.no_grad():
                sc, sv, A = m32.inject(x.float())
                solve32 = dc.iterate_best(lambda ys: m32.deq_func(ys, sc, sv, A),
                                          torch.zeros(B, n, dtype=torch.float32), dc.TARGET_F32, PATIENCE)
                y32 = m32.readout(sv, solve32[0])
    writer = dc.save_model(model, os.path.join(out_dir, name + ".safetensors"),
                           dtype=torch.float32 if f32 else torch.float64)
    dc.write_safetensors(os.path.join(out_dir, name + ".grad.safetensors"), grads)
    dc.write_csv(os.path.join(out_dir, name + ".input.csv"), x, fmt="repr")
    dc.write_csv(os.path.join(out_dir, name + ".output.csv"), y, fmt="%.17g")
    dc.write_csv(os.path.join(out_dir, name + ".target.csv"), target, fmt="repr")
    tensors, _ = dc.read_safetensors(os.path.join(out_dir, name + ".safetensors"))
    for k, v in model.state_dict().items():
        assert torch.equal(tensors[k].to(v.dtype), v), k
    kind = "gnn-lp-explicit" if explicit else "gnn-lp"
    print("%-18s %s m=%d n=%d d=%d nnz=%d %s plain-iteration iters=%-4d residual=%.2e, adjoint %d iterations"
          % (name, kind, m, n, d, nnz, "F32" if f32 else "F64", iters, r, adj))
    info = {"name": name, "kind": kind, "m": m, "n": n, "d": d, "nnz": nnz,
            "dtype": "F32" if f32 else "F64", "n_samples": B, "ref_solver": "plain-iteration", "ref_iters": iters,
            "residual": r, "model": name + ".safetensors", "input": name + ".input.csv",
            "output": name + ".output.csv", "target": name + ".target.csv", "grad": name + ".grad.safetensors",
            "loss": "sum over samples of 0.5*||y - target||^2, divided by n"}
    if f32:
        info = float32_reference(out_dir, name, info, y32, solve32)
    return writer, info


# The Fourier kinds: name, explicit, c_in, q, h, w, c, k1, k2, m, blocks,
# n_rows, spectral weight std, 1x1 gain, dtype. The grids have odd and even
# sides; fno_deq_6x8_f32 keeps the Nyquist row (2 k1 = h) and two blocks.
FNO_CASES = [
    ("fno_deq_6x5", False, 2, 1, 6, 5, 4, 2, 3, 8, 1, 3, 0.15, 0.7, "f64"),
    ("fno_deq_6x8_f32", False, 1, 2, 6, 8, 3, 3, 4, 5, 2, 2, 0.12, 0.6, "f32"),
    ("fno_6x5", True, 2, 1, 6, 5, 4, 2, 3, 8, 1, 3, 0.3, 1.0, "f64"),
]


def fno_case(spec, seed, idx, out_dir):
    """Writes an fno-deq (or fno) case: PyTorch's fixed point by plain
    iteration and the outputs, and the gradient of an MSE loss by autograd
    (through the fixed point by the adjoint iteration, as conv_case does;
    torch.fft's own backward carries it through the transforms)."""
    name, explicit, c_in, q, h, w, c, k1, k2, m, blocks, n, std, gain, dtype = spec
    g = torch.Generator().manual_seed(seed * 1000 + 1300 + idx)
    rn = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    model = dc.FNODEQ(c_in, q, h, w, c, k1, k2, m, blocks=blocks, explicit=explicit)
    f32 = dtype == "f32"
    with torch.no_grad():
        for k, t in model.state_dict().items():
            if t.dim() == 5:
                t.copy_(std * rn(*t.shape) / c)
            elif t.dim() >= 2:
                t.copy_(gain * rn(*t.shape) / t.shape[1] ** 0.5)
            else:
                t.copy_(0.2 * rn(*t.shape))
            if f32:
                t.copy_(t.float().double())
    x = rn(n, c_in * h * w)
    if f32:
        x = x.float().double()
    target = rn(n, q * h * w)
    params = dict(model.named_parameters())
    iters, adj, r = 0, 0, 0.0
    if explicit:
        with torch.no_grad():
            y = model.explicit_forward(x)
        loss = ((model.explicit_forward(x) - target) ** 2).sum() / (2 * n)
        gl = torch.autograd.grad(loss, list(params.values()))
        grads = {k: v.detach() for k, v in zip(params, gl)}
        if f32:
            with torch.no_grad():
                y32, solve32 = dc.float32_copy(model).explicit_forward(x.float()), None
    else:
        with torch.no_grad():
            xt = model.inject(x)
            z = torch.zeros_like(xt)
            flat = lambda t: t.reshape(n, -1)
            for iters in range(1, 100000):
                fz = model.cell(z, xt)
                r = float(dc.rel_residual(flat(fz), flat(z)).max())
                z = fz
                if r <= TARGET:
                    break
            if not (r <= REQUIRED):
                raise SystemExit("%s: reference residual %g > %g" % (name, r, REQUIRED))
            y = model.readout(z)
        zs = z.detach().requires_grad_()
        loss = ((model.readout(zs) - target) ** 2).sum() / (2 * n)
        gz, *g_read = torch.autograd.grad(loss, [zs] + list(params.values()), allow_unused=True)
        zs2 = z.detach().requires_grad_()
        fz = model.cell(zs2, model.inject(x))
        grads, adj = implicit_grads(params, g_read, gz, fz, zs2)
        if f32:
            # PyTorch float32: the module and x in float32, the same iteration.
            m32 = dc.float32_copy(model)
            with torch.no_grad():
                xt32 = m32.inject(x.float())
                solve32 = dc.iterate_best(lambda z: m32.cell(z, xt32), torch.zeros_like(xt32), dc.TARGET_F32, PATIENCE)
                y32 = m32.readout(solve32[0])
    writer = dc.save_model(model, os.path.join(out_dir, name + ".safetensors"),
                           dtype=torch.float32 if f32 else torch.float64)
    dc.write_safetensors(os.path.join(out_dir, name + ".grad.safetensors"), grads)
    dc.write_csv(os.path.join(out_dir, name + ".input.csv"), x, fmt="repr")
    dc.write_csv(os.path.join(out_dir, name + ".output.csv"), y, fmt="%.17g")
    dc.write_csv(os.path.join(out_dir, name + ".target.csv"), target, fmt="repr")
    tensors, _ = dc.read_safetensors(os.path.join(out_dir, name + ".safetensors"))
    for k, v in model.state_dict().items():
        assert torch.equal(tensors[k].to(v.dtype), v), k
    kind = "fno" if explicit else "fno-deq"
    print("%-18s %s c_in=%d q=%d %dx%d c=%d modes=%dx%d m=%d blocks=%d %s plain-iteration iters=%-4d residual=%.2e, adjoint %d iterations"
          % (name, kind, c_in, q, h, w, c, k1, k2, m, blocks, "F32" if f32 else "F64", iters, r, adj))
    info = {"name": name, "kind": kind, "c_in": c_in, "q": q, "H": h, "W": w, "C": c, "modes1": k1, "modes2": k2,
            "proj_width": m, "blocks": blocks, "dtype": "F32" if f32 else "F64", "n_samples": n,
            "ref_solver": "plain-iteration", "ref_iters": iters, "residual": r,
            "model": name + ".safetensors", "input": name + ".input.csv", "output": name + ".output.csv",
            "target": name + ".target.csv", "grad": name + ".grad.safetensors",
            "loss": "sum over samples of 0.5*||y - target||^2, divided by n"}
    if f32:
        info = float32_reference(out_dir, name, info, y32, solve32)
    return writer, info


# The groups of cases --only chooses from.
GROUPS = ("dense", "mlp", "conv", "cnn", "gnn", "fno")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--dtype", choices=("f64", "f32"), default="f64",
                    help="file dtype for all cases (case direct_tanh_f32 is F32 regardless)")
    ap.add_argument("--only", help="write only these groups of cases, comma separated: " + ",".join(GROUPS) +
                    " (dense: deq-dense, gnn: gnn-lp and gnn-lp-explicit, fno: fno-deq and fno); "
                    "testdata/torch holds dense,mlp,conv,cnn")
    args = ap.parse_args()
    only = set(GROUPS if args.only is None else args.only.split(","))
    if not only <= set(GROUPS):
        ap.error("--only: unknown groups %s (want some of %s)" % (",".join(sorted(only - set(GROUPS))), ",".join(GROUPS)))

    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    writer = None
    listing = []
    for idx, spec in enumerate(CASES if "dense" in only else []):
        name, h, p, q, act_name, param, n, extra = spec
        model, x, f32 = build_case(spec, args.seed, idx, args.dtype == "f32")
        W, U, b, C, c = model.dense()
        act = dc.act_fn(act_name)
        with torch.no_grad():
            inj = x @ U.T + b
            wn = dc.spectral_norm(W)
            info = {"name": name, "kind": "deq-dense", "h": h, "p": p, "q": q, "activation": act_name, "param": param,
                    "dtype": "F32" if f32 else "F64", "n_samples": n,
                    "model": name + ".safetensors", "input": name + ".input.csv",
                    "output": name + ".output.csv", "w_norm2": wn}
            # What plain (undamped) iteration does on this case, for the record.
            _, r_plain, it_plain = plain_iteration(W, inj, act, max_iter=2000, target=REQUIRED)
            plain_ok = r_plain <= REQUIRED
            if param == "direct":
                if wn >= 1.0:
                    raise SystemExit("%s: direct case must be contractive, ||W||_2=%g" % (name, wn))
                z, r, iters = plain_iteration(W, inj, act)
                info["ref_solver"] = "plain-iteration"
            else:
                m = model.core.m
                info["monotone_m"] = m
                L = dc.spectral_norm(torch.eye(h, dtype=torch.float64) - W)
                mono = float(torch.linalg.eigvalsh(torch.eye(h, dtype=torch.float64) - (W + W.T) / 2).min())
                if mono < m * (1 - 1e-9):
                    raise SystemExit("%s: I-W is not m-strongly monotone (%g < %g)" % (name, mono, m))
                # act must be the resolvent prox_{alpha f}: relu (prox of the indicator of
                # the nonnegative orthant) and identity (f = 0) are that for every alpha;
                # tanh = prox_f only for alpha = 1, so tanh uses alpha = 1.
                alpha = 1.0 if act_name == "tanh" else 1.0 / L
                z, r, iters = peaceman_rachford(W, inj, act, alpha)
                info.update({"ref_solver": "peaceman-rachford", "pr_alpha": alpha,
                             "i_minus_w_norm2": L, "i_minus_w_min_sym_eig": mono,
                             "fb_alpha_max": 2 * m / L ** 2})
                if extra.get("require_w_norm_gt_1"):
                    if not wn > 1.0:
                        raise SystemExit("%s: want ||W||_2 > 1, got %g" % (name, wn))
                    if plain_ok:
                        raise SystemExit("%s: plain iteration converged; case is meant to defeat it" % name)
            info["plain_iteration_2000"] = {"converged": plain_ok,
                                            "best_residual": r_plain if r_plain == r_plain else None}
            if not (r <= REQUIRED):
                raise SystemExit("%s: reference residual %g > %g" % (name, r, REQUIRED))
            fz = act(z @ W.T + inj)
            rs = dc.rel_residual(fz, z)
            assert float(rs.max()) == r
            y = z @ C.T + c
            if f32:
                # PyTorch float32: the matrices (W as the module materialises it,
                # rounded) and x in float32, the same solver run in float32.
                W32, U32, b32, C32, c32 = (t.float() for t in (W, U, b, C, c))
                inj32 = x.float() @ U32.T + b32
                if param == "direct":
                    solve32 = plain_iteration(W32, inj32, act, target=dc.TARGET_F32)
                else:
                    solve32 = peaceman_rachford(W32, inj32, act, alpha, target=dc.TARGET_F32)
                y32 = solve32[0] @ C32.T + c32
        info.update({"ref_iters": iters, "residual": r, "residual_per_sample": [float(v) for v in rs]})
        if f32:
            info = float32_reference(args.out, name, info, y32, solve32)
        meta = extra.get("meta")
        writer = dc.save_model(model, os.path.join(args.out, name + ".safetensors"),
                               dtype=torch.float32 if f32 else torch.float64, extra_meta=meta)
        if meta:
            info["metadata_extra"] = meta
        dc.write_csv(os.path.join(args.out, name + ".input.csv"), x, fmt="repr")
        dc.write_csv(os.path.join(args.out, name + ".output.csv"), y, fmt="%.17g")
        # Round-trip check of what was just written.
        m2, md2, _ = dc.load_model(os.path.join(args.out, name + ".safetensors"))
        W2, U2, b2, C2, c2 = m2.dense()
        assert torch.equal(U2, U) and torch.equal(b2, b) and torch.equal(C2, C) and torch.equal(c2, c)
        assert torch.allclose(W2, W, rtol=0, atol=1e-15)
        assert torch.equal(dc.read_csv(os.path.join(args.out, name + ".input.csv")), x)
        listing.append(info)
        print("%-18s h=%-3d p=%-2d q=%d %-8s %-8s %s ||W||2=%.3f  %s iters=%-5d residual=%.2e  plain-iter:%s"
              % (name, h, p, q, act_name, param, info["dtype"], wn, info["ref_solver"], iters, r,
                 "converges" if plain_ok else "FAILS"))

    for idx, spec in enumerate(MLP_CASES if "mlp" in only else []):
        writer, info = mlp_case(spec, args.seed, idx, args.out)
        listing.append(info)
    for idx, spec in enumerate(CONV_CASES if "conv" in only else []):
        writer, info = conv_case(spec, args.seed, idx, args.out)
        listing.append(info)
    for idx, spec in enumerate(CNN_CASES if "cnn" in only else []):
        writer, info = cnn_case(spec, args.seed, idx, args.out)
        listing.append(info)
    for idx, spec in enumerate(GNN_CASES if "gnn" in only else []):
        writer, info = gnn_case(spec, args.seed, idx, args.out)
        listing.append(info)

    for idx, spec in enumerate(FNO_CASES if "fno" in only else []):
        writer, info = fno_case(spec, args.seed, idx, args.out)
        listing.append(info)

    doc = {
        "generator": "scripts/torch/reference.py",
        "command": "/usr/bin/python3 scripts/torch/reference.py --out DIR --seed %d --dtype %s%s"
                   % (args.seed, args.dtype, "" if args.only is None else " --only " + args.only),
        "seed": args.seed,
        "torch_version": torch.__version__.split("+")[0],
        "safetensors_writer": writer,
        "model": "deq-dense: z* = act(W z* + U x + b), y = C z* + c; U=encoder.weight, b=encoder.bias, "
                 "C=decoder.weight, c=decoder.bias, W=core.weight or (1-m)I - A^T A + B - B^T; "
                 "mlp: y = C act(U x + b) + c; "
                 "deq-conv: x~ = stem_norm(stem(x)), z* = norm3(relu(z* + norm2(x~ + conv2(norm1(relu(conv1(z*))))))), "
                 "y = head(flatten(avg_pool2d(head_norm(z*), P))); cnn: the same around untied cells run once from z_0 = x~; "
                 "input rows x.flatten(1)",
        "residual_definition": dc.RESIDUAL_DEFINITION,
        "required_residual": REQUIRED,
        "cases": listing,
    }
    with open(os.path.join(args.out, "cases.json"), "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
