"""Shared helpers for scripts/torch (deq-dense models in PyTorch).

Imported by reference.py and bench.py, which check that torch is importable
first (exit code 3 otherwise).  Nothing here needs the `safetensors` package:
the format is written and read by hand (see write_safetensors), and
safetensors.torch.save_file is used instead when it happens to be importable.
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ACTIVATIONS = ("relu", "tanh", "identity")
PARAMS = ("direct", "monotone")

# Residual used everywhere (reference fixtures, bench, and the Go side):
#   r_i = ||f(z_i) - z_i||_2 / ||f(z_i)||_2   per sample i (Euclidean norms over h),
#   reported/stopped on max_i r_i.  If ||f(z_i)|| == 0 the denominator is
#   clamped to the smallest positive normal double (so r_i = 0 iff z_i = f(z_i) = 0).
RESIDUAL_DEFINITION = ("per-sample relative residual ||f(z)-z||_2/||f(z)||_2 "
                       "(Euclidean norm over the h hidden units of one sample), "
                       "max over the batch; f(z) = act(W z + U x + b)")


def act_fn(name):
    if name == "relu":
        return torch.relu
    if name == "tanh":
        return torch.tanh
    if name == "identity":
        return lambda v: v
    raise ValueError("unknown activation %r (want relu|tanh|identity)" % name)


# --------------------------------------------------------------------------
# Model: nn.Module whose state_dict names are the file's tensor names.
# --------------------------------------------------------------------------
class DirectCore(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(h, h, dtype=torch.float64))

    def W(self):
        return self.weight


class MonotoneCore(nn.Module):
    """W = (1-m) I - A^T A + B - B^T  (Winston & Kolter 2020, monDEQ)."""

    def __init__(self, h, m):
        super().__init__()
        self.m = float(m)
        self.A = nn.Parameter(torch.zeros(h, h, dtype=torch.float64))
        self.B = nn.Parameter(torch.zeros(h, h, dtype=torch.float64))

    def W(self):
        A = self.A.to(torch.float64)
        B = self.B.to(torch.float64)
        h = A.shape[0]
        eye = torch.eye(h, dtype=torch.float64)
        return (1.0 - self.m) * eye - A.T @ A + B - B.T


class DEQDense(nn.Module):
    """z* = act(W z* + U x + b), y = C z* + c.

    encoder = nn.Linear(p, h)  -> encoder.weight (U) [h,p], encoder.bias (b) [h]
    decoder = nn.Linear(h, q)  -> decoder.weight (C) [q,h], decoder.bias (c) [q]
    core    = DirectCore (core.weight [h,h]) or MonotoneCore (core.A, core.B [h,h])
    """

    def __init__(self, p, h, q, activation="relu", param="direct", m=None):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError("activation must be one of %s" % (ACTIVATIONS,))
        if param not in PARAMS:
            raise ValueError("param must be one of %s" % (PARAMS,))
        self.p, self.h, self.q = p, h, q
        self.activation = activation
        self.param = param
        self.encoder = nn.Linear(p, h).double()
        self.decoder = nn.Linear(h, q).double()
        if param == "direct":
            self.core = DirectCore(h)
        else:
            if m is None or not (float(m) > 0):
                raise ValueError("monotone parametrisation needs m > 0")
            self.core = MonotoneCore(h, m)

    def metadata(self, extra=None):
        md = {
            "implicit.format": "1",
            "implicit.kind": "deq-dense",
            "implicit.activation": self.activation,
            "implicit.param": self.param,
        }
        if self.param == "monotone":
            md["implicit.monotone_m"] = repr(float(self.core.m))
        if extra:
            md.update({k: str(v) for k, v in extra.items()})
        return md

    def dense(self):
        """float64 (W, U, b, C, c), W materialised from A, B if monotone."""
        with torch.no_grad():
            f64 = lambda t: t.detach().to(torch.float64).contiguous()
            return (f64(self.core.W()), f64(self.encoder.weight), f64(self.encoder.bias),
                    f64(self.decoder.weight), f64(self.decoder.bias))


class MLP(nn.Module):
    """The mlp kind, the explicit baseline: y = C act(U x + b) + c, evaluated once.

    encoder = nn.Linear(p, h)  -> encoder.weight (U) [h,p], encoder.bias (b) [h]
    decoder = nn.Linear(h, q)  -> decoder.weight (C) [q,h], decoder.bias (c) [q]
    """

    def __init__(self, p, h, q, activation="relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError("activation must be one of %s" % (ACTIVATIONS,))
        self.activation = activation
        self.encoder = nn.Linear(p, h).double()
        self.decoder = nn.Linear(h, q).double()

    def forward(self, x):
        return self.decoder(act_fn(self.activation)(self.encoder(x)))

    def metadata(self, extra=None):
        md = {"implicit.format": "1", "implicit.kind": "mlp", "implicit.activation": self.activation}
        if extra:
            md.update({k: str(v) for k, v in extra.items()})
        return md


class ConvCell(nn.Module):
    """f(z, x) = norm3(relu(z + norm2(x + conv2(norm1(relu(conv1(z))))))),
    the Deep Implicit Layers tutorial's ResNetLayer (chapter 4)."""

    def __init__(self, C, I, G):
        super().__init__()
        self.conv1 = nn.Conv2d(C, I, 3, padding=1, bias=False).double()
        self.norm1 = nn.GroupNorm(G, I).double()
        self.conv2 = nn.Conv2d(I, C, 3, padding=1, bias=False).double()
        self.norm2 = nn.GroupNorm(G, C).double()
        self.norm3 = nn.GroupNorm(G, C).double()

    def forward(self, z, x):
        y = self.norm1(torch.relu(self.conv1(z)))
        return self.norm3(torch.relu(z + self.norm2(x + self.conv2(y))))


class DEQConv(nn.Module):
    """The deq-conv kind, in eval mode (BatchNorm's running statistics):

        x~ = stem_norm(stem(x)); z* = cell(z*, x~) from z = 0;
        y  = head(flatten(avg_pool2d(head_norm(z*), P)))
    """

    def __init__(self, c_in, C, I, G, H, W, P, q):
        super().__init__()
        self.shape = dict(c_in=c_in, C=C, I=I, G=G, H=H, W=W, P=P, q=q)
        self.stem = nn.Conv2d(c_in, C, 3, padding=1).double()
        self.stem_norm = nn.BatchNorm2d(C).double()
        self.cell = ConvCell(C, I, G)
        self.head_norm = nn.BatchNorm2d(C).double()
        self.head = nn.Linear(C * (H // P) * (W // P), q).double()
        self.eval()

    def inject(self, x):
        return self.stem_norm(self.stem(x))

    def readout(self, z):
        return self.head(torch.flatten(torch.nn.functional.avg_pool2d(self.head_norm(z), self.shape["P"]), 1))

    def metadata(self, extra=None):
        s = self.shape
        md = {"implicit.format": "1", "implicit.kind": "deq-conv", "implicit.in_channels": str(s["c_in"]),
              "implicit.height": str(s["H"]), "implicit.width": str(s["W"]), "implicit.groups": str(s["G"]),
              "implicit.pool": str(s["P"])}
        if extra:
            md.update({k: str(v) for k, v in extra.items()})
        return md


class CNN(DEQConv):
    """The cnn kind, deq-conv's explicit counterpart: the same stem and head
    around `depth` untied cells, run once from z_0 = x~:
    z_l = cells[l-1](z_{l-1}, x~), y = head(flatten(avg_pool2d(head_norm(z_L), P)))."""

    def __init__(self, c_in, C, I, G, H, W, P, q, depth):
        super().__init__(c_in, C, I, G, H, W, P, q)
        del self.cell
        self.cells = nn.ModuleList([ConvCell(C, I, G) for _ in range(depth)])
        self.eval()

    def forward(self, x):
        xt = self.inject(x)
        z = xt
        for cell in self.cells:
            z = cell(z, xt)
        return self.readout(z)

    def metadata(self, extra=None):
        md = super().metadata(extra)
        md["implicit.kind"] = "cnn"
        md["implicit.depth"] = str(len(self.cells))
        return md


# --------------------------------------------------------------------------
# gnn-lp: the bipartite graph implicit model of LPs (arXiv:2510.03638, §5)
# --------------------------------------------------------------------------
def mlp2(d_in, d_out, bias1=True, bias2=True):
    return nn.Sequential(nn.Linear(d_in, d_out, bias=bias1), nn.ReLU(),
                         nn.Linear(d_out, d_out, bias=bias2)).double()


class BipartiteConv(nn.Module):
    """One bipartite convolution between L-wide constraint features and
    R-wide variable features. to_cons: the messages go from the variables to
    the constraints. T' = output_module(cat[sum_s A_ts F_S(S)_s, F_T(T)_t])."""

    def __init__(self, L, R, to_cons):
        super().__init__()
        self.to_cons = to_cons
        self.feature_module_left = mlp2(L, L)
        self.feature_module_right = mlp2(R, R, bias1=False)
        out = L if to_cons else R
        self.output_module = mlp2(R + L, out)

    def forward(self, cons, var, A):
        # cons (B, m, L), var (B, n, R), A (B, m, n) dense: the sum over the
        # nonzeros of A is A @ messages.
        if self.to_cons:
            agg = A @ self.feature_module_right(var)
            prev = self.feature_module_left(cons)
        else:
            agg = A.transpose(1, 2) @ self.feature_module_left(cons)
            prev = self.feature_module_right(var)
        return self.output_module(torch.cat([agg, prev], dim=-1))


class GNNLayers(nn.Module):
    """The four layers v->c, c->v, v->c, c->v, each followed by a relu."""

    def __init__(self, L, R, with_y):
        super().__init__()
        self.conv_v_to_c = BipartiteConv(L, R, True)
        self.conv_c_to_v = BipartiteConv(L, R, False)
        self.conv_v_to_c2 = BipartiteConv(L, R, True)
        self.conv_c_to_v2 = BipartiteConv(L, R, False)
        if with_y:
            self.to_y = nn.Linear(R, 1).double()

    def layers(self, cons, var, A):
        c1 = torch.relu(self.conv_v_to_c(cons, var, A))
        v1 = torch.relu(self.conv_c_to_v(c1, var, A))
        c2 = torch.relu(self.conv_v_to_c2(c1, v1, A))
        return torch.relu(self.conv_c_to_v2(c2, v1, A))

    def forward(self, y, sc, sv, A):
        """G(y, x): y (B, n), the static embeddings sc (B, m, d), sv (B, n, d)."""
        v = self.layers(sc, torch.cat([sv, y.unsqueeze(-1)], dim=-1), A)
        return self.to_y(v).squeeze(-1)


class GNNLP(nn.Module):
    """The gnn-lp kind (explicit=False) and gnn-lp-explicit (explicit=True).

    An input row is one LP of m constraints and n variables, flattened as
    [(b_i, eq_i) for each constraint, (c_j, l_j, u_j) for each variable, A
    row by row]. S_c = relu(cons_embedding(f_c)), S_v = relu(var_embedding(f_v));
    gnn-lp: y* = G(y*, x) from y = 0, yhat = output_module([S_v, y*]);
    explicit: yhat = output_module(layers(S_c, S_v)). The state_dict names
    are those of the paper's code."""

    def __init__(self, m, n, d, explicit=False, fc=2, fv=3):
        super().__init__()
        self.m, self.n, self.d, self.fc, self.fv, self.explicit = m, n, d, fc, fv, explicit
        self.cons_embedding = nn.Sequential(nn.Linear(fc, d), nn.ReLU()).double()
        self.var_embedding = nn.Sequential(nn.Linear(fv, d), nn.ReLU()).double()
        R = d if explicit else d + 1
        if explicit:
            layers = GNNLayers(d, R, False)
            for k in ("conv_v_to_c", "conv_c_to_v", "conv_v_to_c2", "conv_c_to_v2"):
                setattr(self, k, getattr(layers, k))
            self._layers = [layers]
        else:
            self.deq_func = GNNLayers(d, R, True)
        self.output_module = nn.Sequential(nn.Linear(R, d), nn.ReLU(), nn.Linear(d, 1, bias=False)).double()

    def split(self, x):
        B, m, n = x.shape[0], self.m, self.n
        fc = x[:, :m * self.fc].reshape(B, m, self.fc)
        fv = x[:, m * self.fc:m * self.fc + n * self.fv].reshape(B, n, self.fv)
        A = x[:, m * self.fc + n * self.fv:].reshape(B, m, n)
        return fc, fv, A

    def inject(self, x):
        fc, fv, A = self.split(x)
        return self.cons_embedding(fc), self.var_embedding(fv), A

    def readout(self, sv, y):
        return self.output_module(torch.cat([sv, y.unsqueeze(-1)], dim=-1)).squeeze(-1)

    def explicit_forward(self, x):
        sc, sv, A = self.inject(x)
        return self.output_module(self._layers[0].layers(sc, sv, A)).squeeze(-1)

    def metadata(self, extra=None):
        md = {"implicit.format": "1", "implicit.kind": "gnn-lp-explicit" if self.explicit else "gnn-lp",
              "implicit.constraints": str(self.m), "implicit.variables": str(self.n)}
        if extra:
            md.update({k: str(v) for k, v in extra.items()})
        return md


class SpectralConv2d(nn.Module):
    """The FNO's Fourier layer: rfft2, the lowest modes1 x modes2 modes of both
    row corners (rows 0..k1-1 and h-k1..h-1) multiplied channel by channel by
    complex weights, irfft2. The weights are real tensors [in, out, k1, k2, 2]
    (real, imag last): torch.view_as_complex of them is the FNO code's
    cfloat weights1, weights2, which safetensors cannot hold."""

    def __init__(self, c, k1, k2):
        super().__init__()
        self.k1, self.k2 = k1, k2
        self.weights1 = nn.Parameter(torch.zeros(c, c, k1, k2, 2, dtype=torch.float64))
        self.weights2 = nn.Parameter(torch.zeros(c, c, k1, k2, 2, dtype=torch.float64))

    def forward(self, x):
        n, c, h, w = x.shape
        k1, k2 = self.k1, self.k2
        xf = torch.fft.rfft2(x)
        out = torch.zeros(n, c, h, w // 2 + 1, dtype=xf.dtype)
        out[:, :, :k1, :k2] = torch.einsum("bixy,ioxy->boxy", xf[:, :, :k1, :k2], torch.view_as_complex(self.weights1))
        out[:, :, h - k1:, :k2] = torch.einsum("bixy,ioxy->boxy", xf[:, :, h - k1:, :k2], torch.view_as_complex(self.weights2))
        return torch.fft.irfft2(out, s=(h, w))


class MLP2d(nn.Module):
    """Two 1x1 convolutions with a GELU between (the FNO code's MLP2d)."""

    def __init__(self, c_in, c_out, mid):
        super().__init__()
        self.mlp1 = nn.Conv2d(c_in, mid, 1).double()
        self.mlp2 = nn.Conv2d(mid, c_out, 1).double()

    def forward(self, x):
        return self.mlp2(F.gelu(self.mlp1(x)))


class FNOBlock(nn.Module):
    """Three Fourier layers, z <- gelu(mlp_j(conv_j(z)) + w_j(z) [+ injection])
    (the FNO-DEQ code's BasicBlock with add_mlp, without normalisation)."""

    def __init__(self, c, k1, k2):
        super().__init__()
        for j in range(3):
            setattr(self, "conv%d" % j, SpectralConv2d(c, k1, k2))
        for j in range(3):
            setattr(self, "mlp%d" % j, MLP2d(c, c, c))
        for j in range(3):
            setattr(self, "w%d" % j, nn.Conv2d(c, c, 1).double())

    def forward(self, z, injection=None):
        for j in range(3):
            z1 = getattr(self, "mlp%d" % j)(getattr(self, "conv%d" % j)(z)) + getattr(self, "w%d" % j)(z)
            z = F.gelu(z1 if injection is None else z1 + injection)
        return z


class FNOStack(nn.Module):
    def __init__(self, c, k1, k2, blocks):
        super().__init__()
        self.deq_block = nn.ModuleList([FNOBlock(c, k1, k2) for _ in range(blocks)])

    def forward(self, z, injection=None):
        for b in self.deq_block:
            z = b(z, injection)
        return z


class FNODEQ(nn.Module):
    """The fno-deq kind (explicit=False) and fno (explicit=True): the FNO-DEQ
    code's FNO2dDEQ and FNO2d with padding 0, add_mlp and no normalisation,
    whose state_dict names it keeps. x [n, c_in, h, w] (an input row is
    x.flatten(1)); x~ = fc([x, grid]) on each pixel, grid = (linspace(0, 1, h)
    down the rows, linspace(0, 1, w) along them); fno-deq: z* = deq_block(z*, x~)
    from z = 0; fno: z = deq_block(x~); y = q(mlp(conv(z)) + w0(z)), [n, q, h, w]."""

    def __init__(self, c_in, q, h, w, c, k1, k2, m, blocks=1, explicit=False):
        super().__init__()
        self.c_in, self.q_out, self.h, self.w, self.explicit = c_in, q, h, w, explicit
        self.fc = nn.Linear(c_in + 2, c).double()
        self.conv = SpectralConv2d(c, k1, k2)
        self.mlp = MLP2d(c, c, c)
        self.w0 = nn.Conv2d(c, c, 1).double()
        self.deq_block = FNOStack(c, k1, k2, blocks)
        self.q = MLP2d(c, q, m)

    def grid(self, n, dtype):
        gx = torch.linspace(0, 1, self.h, dtype=dtype).reshape(1, self.h, 1, 1).expand(n, self.h, self.w, 1)
        gy = torch.linspace(0, 1, self.w, dtype=dtype).reshape(1, 1, self.w, 1).expand(n, self.h, self.w, 1)
        return torch.cat([gx, gy], dim=-1)

    def inject(self, x):
        n = x.shape[0]
        x = x.reshape(n, self.c_in, self.h, self.w).permute(0, 2, 3, 1)
        return self.fc(torch.cat([x, self.grid(n, x.dtype)], dim=-1)).permute(0, 3, 1, 2)

    def cell(self, z, xt):
        return self.deq_block(z, xt)

    def readout(self, z):
        return self.q(self.mlp(self.conv(z)) + self.w0(z)).flatten(1)

    def explicit_forward(self, x):
        return self.readout(self.deq_block(self.inject(x)))

    def metadata(self, extra=None):
        md = {"implicit.format": "1", "implicit.kind": "fno" if self.explicit else "fno-deq",
              "implicit.height": str(self.h), "implicit.width": str(self.w)}
        if extra:
            md.update({k: str(v) for k, v in extra.items()})
        return md


# --------------------------------------------------------------------------
# safetensors, written/read by hand
# --------------------------------------------------------------------------
_DT_TO_ST = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16",
             torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32"}
_ST_TO_NP = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4"}


def have_safetensors():
    try:
        import safetensors.torch  # noqa: F401
        return True
    except Exception:
        return False


def write_safetensors(path, tensors, metadata=None):
    """Write tensors (dict name -> torch.Tensor) in the safetensors format.

    Layout: u64 little-endian header length N, N bytes of JSON header
    (compact, padded with spaces so N % 8 == 0), then the byte buffer.
    Tensors are laid out contiguously in the buffer in the reference
    implementation's order: by dtype, descending in its Dtype enumeration
    (I64 before F64 before F32), then by name; data_offsets are
    [begin, end) relative to the buffer start; "__metadata__" is a
    string->string map.  Uses safetensors.torch.save_file when importable.
    """
    metadata = {str(k): str(v) for k, v in (metadata or {}).items()}
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    if have_safetensors():
        import safetensors.torch
        safetensors.torch.save_file(tensors, path, metadata=metadata)
        return "safetensors.torch.save_file"
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    chunks, off = [], 0
    rank = {"F32": 1, "F64": 2, "I64": 3}
    for name in sorted(tensors, key=lambda k: (-rank.get(_DT_TO_ST.get(tensors[k].dtype), 0), k)):
        t = tensors[name]
        if t.dtype not in _DT_TO_ST or _DT_TO_ST[t.dtype] not in _ST_TO_NP:
            raise ValueError("unsupported dtype %s for %s" % (t.dtype, name))
        st = _DT_TO_ST[t.dtype]
        raw = t.numpy().astype(_ST_TO_NP[st], copy=False).tobytes(order="C")
        header[name] = {"dtype": st, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    hbytes = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(hbytes)))
        fh.write(hbytes)
        for c in chunks:
            fh.write(c)
    return "builtin writer"


def read_safetensors(path):
    """Return (dict name -> torch.Tensor (file dtype), metadata dict). Validates layout."""
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 8:
        raise ValueError("%s: too short for safetensors" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError("%s: header length %d exceeds file" % (path, n))
    header = json.loads(data[8:8 + n].decode("utf-8"))
    buf = memoryview(data)[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    spans = []
    for name, info in header.items():
        st = info["dtype"]
        if st not in _ST_TO_NP:
            raise ValueError("%s: tensor %s has unsupported dtype %s" % (path, name, st))
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        arr = np.frombuffer(buf[b:e], dtype=_ST_TO_NP[st])
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError("%s: tensor %s size mismatch" % (path, name))
        out[name] = torch.from_numpy(arr.reshape(shape).astype(arr.dtype.newbyteorder("="), copy=True))
        spans.append((b, e))
    spans.sort()
    pos = 0
    for b, e in spans:
        if b != pos:
            raise ValueError("%s: tensor data not contiguous" % path)
        pos = e
    if pos != len(buf):
        raise ValueError("%s: %d trailing bytes after tensor data" % (path, len(buf) - pos))
    return out, meta


def save_model(model, path, dtype=torch.float64, extra_meta=None):
    sd = {k: (v if not v.is_floating_point() else v.to(dtype)).detach().contiguous()
          for k, v in model.state_dict().items()}
    return write_safetensors(path, sd, model.metadata(extra_meta))


def load_model(path):
    """Load a deq-dense safetensors file into a float64 DEQDense. Returns (model, metadata, file_dtype)."""
    tensors, meta = read_safetensors(path)
    if meta.get("implicit.kind") != "deq-dense":
        raise ValueError("%s: implicit.kind=%r, want deq-dense" % (path, meta.get("implicit.kind")))
    param = meta.get("implicit.param", "direct")
    act = meta.get("implicit.activation", "relu")
    U = tensors["encoder.weight"]
    C = tensors["decoder.weight"]
    h, p = U.shape
    q = C.shape[0]
    m = float(meta["implicit.monotone_m"]) if param == "monotone" else None
    model = DEQDense(p, h, q, activation=act, param=param, m=m)
    sd = {k: v.to(torch.float64) for k, v in tensors.items()}
    model.load_state_dict(sd, strict=True)
    dtypes = sorted({str(t.dtype).replace("torch.", "") for t in tensors.values()})
    return model, meta, ",".join(dtypes)


# --------------------------------------------------------------------------
# CSV (one sample per line, comma separated, no header)
# --------------------------------------------------------------------------
def write_csv(path, rows, fmt="%.17g"):
    rows = rows.detach().to(torch.float64).tolist()
    with open(path, "w") as fh:
        for r in rows:
            fh.write(",".join((repr(float(v)) if fmt == "repr" else fmt % v) for v in r) + "\n")


def read_csv(path):
    rows = []
    with open(path) as fh:
        for ln, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            rows.append([float(s) for s in line.split(",")])
    if not rows:
        raise ValueError("%s: no rows" % path)
    n = len(rows[0])
    if any(len(r) != n for r in rows):
        raise ValueError("%s: ragged rows" % path)
    return torch.tensor(rows, dtype=torch.float64)


# --------------------------------------------------------------------------
# numerics
# --------------------------------------------------------------------------
def rel_residual(fz, z):
    """Per-sample ||f(z)-z|| / ||f(z)|| for batched rows [n, h] -> [n]."""
    num = torch.linalg.vector_norm(fz - z, dim=-1)
    den = torch.linalg.vector_norm(fz, dim=-1).clamp_min(torch.finfo(fz.dtype).tiny)
    return num / den


def spectral_norm(M):
    return float(torch.linalg.matrix_norm(M.to(torch.float64), ord=2))


# --------------------------------------------------------------------------
# PyTorch float32: the F32 cases' second reference
# --------------------------------------------------------------------------
# What the float32 solves aim for: float32's own floor is near 1e-7.
TARGET_F32 = 1e-6


def float32_copy(model):
    """A copy of model in torch.float32 (parameters and floating buffers)."""
    import copy
    return copy.deepcopy(model).float()


def iterate_best(f, z, target, patience, max_iter=100000):
    """Plain iteration z <- f(z) from z (rows of the batch along dim 0) until
    the per-sample relative residual of z, max over the batch, is <= target,
    or patience iterations pass without a new best, or f(z) is not finite.
    Returns (f(z) at the best z, its residual, its iteration count), in z's dtype."""
    n = z.shape[0]
    best = None
    for k in range(1, max_iter + 1):
        fz = f(z)
        r = float(rel_residual(fz.reshape(n, -1), z.reshape(n, -1)).max())
        if best is None or r < best[1]:
            best = (fz, r, k)
        if r <= target or not torch.isfinite(fz).all() or k - best[2] > patience:
            break
        z = fz
    return best
