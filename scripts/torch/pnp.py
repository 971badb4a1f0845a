"""The pnp kinds in PyTorch: plug-and-play deblurring with a learned
convolutional denoiser (core/model/pnp.go is the Go side; its package comment
states the same equations).

    pgd: G(y, x) = H(y - gamma A^T (A y - x))
    hqs: G(y, x) = H((A^T A + beta I)^-1 (A^T x + beta y))
    pnp-explicit: y = H(x)

A is F.conv2d (a correlation) with the buffer `kernel` [kh, kw] on the image
extended by half-sample symmetric reflection or periodically; A^T scatters
back (conv_transpose2d, then index_add_ over the same indices); the hqs
resolvent is by torch.fft on the image (periodic) or its 2H x 2W symmetric
extension (symmetric: exact for a kernel symmetric under each flip).
H(v) = v - D(v), D an nn.Sequential of 3x3 Conv2d (padding 1, bias) and
ReLUs: 1 -> C, C -> C (depth - 2 times), C -> 1. The state_dict
(denoiser.{2l}.weight/.bias, kernel, and gamma (pgd) or beta (hqs)) is the file format.

Images are [B, 1, H, W]; an input row of the Go runtime is one image
flattened row by row.  Any image size works with the same module.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def boundary_index(i, n, boundary):
    if boundary == "periodic":
        return i % n
    i %= 2 * n
    return 2 * n - 1 - i if i >= n else i


class PnP(nn.Module):
    def __init__(self, kernel=None, splitting="pgd", boundary="symmetric", depth=5, channels=16,
                 gamma=1.0, beta=0.1, noise=0.03, explicit=False):
        super().__init__()
        self.explicit, self.splitting, self.boundary, self.noise = explicit, splitting, boundary, noise
        layers = []
        for l in range(depth):
            cin = 1 if l == 0 else channels
            cout = 1 if l == depth - 1 else channels
            layers.append(nn.Conv2d(cin, cout, 3, padding=1))
            if l < depth - 1:
                layers.append(nn.ReLU())
        self.denoiser = nn.Sequential(*layers)
        self.depth = depth
        if not explicit:
            self.register_buffer("kernel", torch.as_tensor(kernel, dtype=torch.float64).clone())
            if splitting == "pgd":
                self.gamma = nn.Parameter(torch.tensor(float(gamma), dtype=torch.float64))
            else:
                self.beta = nn.Parameter(torch.tensor(float(beta), dtype=torch.float64))

    def denoise(self, v):
        return v - self.denoiser(v)

    def _indices(self, H, W):
        kh, kw = self.kernel.shape
        ri = torch.tensor([boundary_index(i - kh // 2, H, self.boundary) for i in range(H + kh - 1)])
        ci = torch.tensor([boundary_index(j - kw // 2, W, self.boundary) for j in range(W + kw - 1)])
        return ri, ci

    def A(self, y):
        ri, ci = self._indices(y.shape[-2], y.shape[-1])
        return F.conv2d(y[:, :, ri][:, :, :, ci], self.kernel[None, None])

    def At(self, r):
        H, W = r.shape[-2:]
        ri, ci = self._indices(H, W)
        t = F.conv_transpose2d(r, self.kernel[None, None])
        rows = torch.zeros(r.shape[0], 1, H, t.shape[-1], dtype=r.dtype).index_add(2, ri, t)
        return torch.zeros_like(r).index_add(3, ci, rows)

    def resolvent(self, v):
        H, W = v.shape[-2:]
        if self.boundary == "symmetric":
            ei = torch.tensor([p if p < H else 2 * H - 1 - p for p in range(2 * H)])
            ej = torch.tensor([q if q < W else 2 * W - 1 - q for q in range(2 * W)])
            v = v[:, :, ei][:, :, :, ej]
        P, Q = v.shape[-2:]
        kh, kw = self.kernel.shape
        grid = torch.zeros(P, Q, dtype=v.dtype)
        for a in range(kh):
            for c in range(kw):
                grid[(a - kh // 2) % P, (c - kw // 2) % Q] += self.kernel[a, c]
        eig = torch.fft.fft2(grid).abs() ** 2
        out = torch.fft.ifft2(torch.fft.fft2(v) / (eig + self.beta)).real
        return out[:, :, :H, :W]

    def inject(self, x):
        return x if self.explicit else self.At(x)

    def G(self, y, inj):
        """The map, for the states y and the injections inj = A^T x."""
        if self.splitting == "pgd":
            v = y - self.gamma * (self.At(self.A(y)) - inj)
        else:
            v = self.resolvent(inj + self.beta * y)
        return self.denoise(v)

    def forward(self, x, iters=100, y0=None):
        """Restores the observations x [B, 1, H, W]: iters iterations of G from y0
        (default 0), or the denoiser once (pnp-explicit)."""
        if self.explicit:
            return self.denoise(x)
        inj = self.inject(x)
        y = torch.zeros_like(x) if y0 is None else y0
        for _ in range(iters):
            y = self.G(y, inj)
        return y

    def metadata(self, extra=None, height=None, width=None):
        md = {"implicit.format": "1", "implicit.kind": "pnp-explicit" if self.explicit else "pnp",
              "implicit.height": str(height), "implicit.width": str(width),
              "implicit.depth": str(self.depth), "implicit.noise": repr(float(self.noise))}
        if not self.explicit:
            md["implicit.splitting"], md["implicit.boundary"] = self.splitting, self.boundary
        if extra:
            md.update({k: str(v) for k, v in extra.items()})
        return md
