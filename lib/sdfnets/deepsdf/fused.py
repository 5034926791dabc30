"""Phase 11's training step with hand-fused kernels (the fast recipe with ``kernels="triton"``).

Why hand-written: at 524,288 points per step the 8 x 512 decoder's step is bound by the
pointwise passes between its GEMMs (bias + ReLU after every forward GEMM, the ReLU mask before
every backward one), not by the GEMMs. cuBLAS cannot take them as epilogues from PyTorch, and
inductor fuses them only into its own Triton GEMM templates under max-autotune, which it turns
down here as slower GEMMs. Three rewrites, each exact in real
arithmetic, remove those passes:

1. The latent is constant over a shape's points, so its share of layer 0 and of the skip layer
   is one small product per shape, added as a per-shape bias ``z @ W_z^T + b``; the per-point
   GEMMs see only the positional encoding (and the hidden state).
2. Forward, one kernel per layer: GEMM + per-shape bias + ReLU; the last hidden layer also
   takes the output layer's dot product in its epilogue, in float32.
3. Backward, one kernel per layer: the gradient times the weights, the lower layer's ReLU mask
   and per-tile column sums (bias and latent gradients, summed per shape without atomics, so
   the sums are deterministic); weight gradients are plain cuBLAS GEMMs.

The orchestration (:class:`FusedDecoderFn`) runs on either of two sets of primitives:
:class:`TorchOps`, written in PyTorch for any device and dtype (the reference), and
:class:`TritonOps`. Tests compare the first with autograd through :class:`Decoder` and the
second with the first (Triton's interpreter on a CPU, the kernels themselves on a GPU).
"""

from __future__ import annotations

import importlib.util

import torch
import torch.nn.functional as F

from ..layers import PositionalEncoding
from .model import Decoder

PE_WIDTH = 64  # the positional encoding (39 dims) zero-padded to one K block


def _acc(t: torch.Tensor) -> torch.Tensor:
    """Accumulation precision: float64 stays, everything else is computed in float32."""
    return t if t.dtype == torch.float64 else t.float()


def pe_input(points: torch.Tensor, pe: PositionalEncoding, dtype: torch.dtype) -> torch.Tensor:
    """[M, 3] points -> [M, PE_WIDTH] positional encoding (the decoder's own), zero-padded, in ``dtype``."""
    enc = pe(_acc(points))
    return F.pad(enc, (0, PE_WIDTH - enc.shape[-1])).to(dtype)


class TorchOps:
    """The three primitives in PyTorch (float32 arithmetic, float64 kept; outputs in the inputs' dtype)."""

    tile_m = 1
    min_points = 0  # the reference runs any call it is given (tests compare it with the module)

    @staticmethod
    def encode(points, pe, dtype):
        return pe_input(points, pe, dtype)

    @staticmethod
    def linear_relu(a, w, vec, rows, head=None, out=None):
        """``relu(a @ w.T + vec[row // rows])`` in ``a``'s dtype (written into ``out`` if given)
        and, with ``head`` (a float32 vector), the float32 dot of every output row with it."""
        y = _acc(a) @ _acc(w).T
        y = torch.relu(y.view(-1, rows, y.shape[-1]) + vec.to(y.dtype)[:, None, :]).view(y.shape)
        h = y.to(a.dtype) if out is None else out.copy_(y)
        return h, (y @ head.to(y.dtype) if head is not None else None)

    @staticmethod
    def grad_relu(g, w, h, rows):
        """``(g @ w) * (h > 0)`` in ``g``'s dtype and its float32 column sums per group of rows."""
        x = (_acc(g) @ _acc(w)) * (h > 0)
        return x.to(g.dtype), x.view(-1, rows, x.shape[-1]).sum(1)

    @staticmethod
    def head_grad(gpred, w_out, h, rows):
        """Backward of ``pred = h @ w_out`` through the ReLU that made ``h``: the gradient at the
        pre-activation, its column sums per group, and the gradient of ``w_out``."""
        x = gpred[:, None] * w_out[None, :] * (h > 0)
        return x.to(h.dtype), x.view(-1, rows, x.shape[-1]).sum(1), _acc(h).T @ gpred


class FusedDecoderFn(torch.autograd.Function):
    """SDF of every point of every shape in the step: ``z`` [G, L] latents, ``pe`` [G * rows,
    PE_WIDTH] encoded points (shape-major), ``params`` the decoder's hidden weights and biases
    in order, then the output layer's; returns [G * rows] float32.

    The skip layer's input ``[h, z, PE(x)]`` is one buffer ``[h | PE]`` (the layer before writes
    its output into the left part), so the skip layer is one GEMM forward and one backward."""

    @staticmethod
    def forward(ctx, ops, layout, z, pe, rows, *params):
        n, L, P, skip, hidden = layout
        dt = pe.dtype
        Ws, bs, w_out, b_out = params[0:2 * n:2], params[1:2 * n:2], params[-2], params[-1]
        hs, ws = [], []  # activations (saved) and the weights as the kernels saw them, in dt
        buf, pred = pe, None
        with torch.autocast(pe.device.type, enabled=False):
            for i in range(n):
                head = _acc(w_out[0]) if i == n - 1 else None
                if i == 0 or i == skip:
                    off = 0 if i == 0 else hidden
                    vec = torch.addmm(_acc(bs[i]), _acc(z), _acc(Ws[i][:, off:off + L]).T)
                    wp = F.pad(Ws[i][:, off + L:off + L + P], (0, PE_WIDTH - P))
                    ws.append((wp if i == 0 else torch.cat([Ws[i][:, :hidden], wp], 1)).to(dt))
                else:
                    vec = _acc(bs[i][None])
                    ws.append(Ws[i].to(dt))
                out = None
                if i + 1 == skip:  # write h into [h | PE]
                    buf = torch.empty(pe.shape[0], hidden + PE_WIDTH, dtype=dt, device=pe.device)
                    buf[:, hidden:] = pe
                    out = buf[:, :hidden]
                h, pred = ops.linear_relu(buf if i == skip else (hs[-1] if i else pe), ws[-1], vec, rows,
                                          head=head, out=out)
                hs.append(h)
        ctx.ops, ctx.layout, ctx.rows = ops, layout, rows
        ctx.save_for_backward(z, pe, buf, *hs, *ws, *params)
        return pred + _acc(b_out)

    @staticmethod
    def backward(ctx, gpred):
        ops, rows = ctx.ops, ctx.rows
        n, L, P, skip, hidden = ctx.layout
        z, pe, buf, *rest = ctx.saved_tensors
        hs, ws, params = rest[:n], rest[n:2 * n], rest[2 * n:]
        Ws, w_out = params[0:2 * n:2], params[-2]
        gW, gb = [None] * n, [None] * n
        gz = torch.zeros_like(_acc(z))
        weights = any(ctx.needs_input_grad[5:])  # a frozen decoder (refinement) wants the latents' only
        with torch.autocast(pe.device.type, enabled=False):
            gpred = _acc(gpred).contiguous()
            g, sums, gw_out = ops.head_grad(gpred, _acc(w_out[0]), hs[-1], rows)
            for i in reversed(range(n)):
                gb[i] = sums.sum(0)
                if i == 0 or i == skip:
                    off = 0 if i == 0 else hidden
                    gz += sums @ _acc(Ws[i][:, off:off + L])
                    if weights:
                        gw = torch.zeros_like(_acc(Ws[i]))
                        gw[:, off:off + L] = sums.T @ _acc(z)
                        seen = _acc(g.T @ (pe if i == 0 else buf))  # [N, PE_WIDTH] or [N, hidden + PE_WIDTH]
                        if i == skip:
                            gw[:, :hidden] = seen[:, :hidden]
                        gw[:, off + L:off + L + P] = seen[:, -PE_WIDTH:][:, :P]
                        gW[i] = gw
                elif weights:
                    gW[i] = _acc(g.T @ hs[i - 1])
                if i > 0:
                    g, sums = ops.grad_relu(g, ws[i][:, :hidden], hs[i - 1], rows)
        if not weights:
            return (None, None, gz.to(z.dtype), None, None, *[None] * len(params))
        grads = [gW[i // 2].to(params[i].dtype) if i % 2 == 0 else gb[i // 2].to(params[i].dtype)
                 for i in range(2 * n)]
        return (None, None, gz.to(z.dtype), None, None, *grads, gw_out[None].to(w_out.dtype),
                gpred.sum().reshape(1).to(params[-1].dtype))


def supported(decoder: Decoder, rows: int, ops) -> str | None:
    """Why the fused step cannot run this decoder / batch (None when it can)."""
    widths = {layer.out_features for layer in decoder.layers}
    if len(widths) != 1:
        return "hidden layers of different widths"
    if decoder.pe.out_dim > PE_WIDTH:
        return f"positional encoding wider than {PE_WIDTH}"
    if rows % ops.tile_m:
        return f"points per shape ({rows}) not a multiple of {ops.tile_m}"
    if getattr(ops, "tile_n", 1) > 1 and widths.pop() % ops.tile_n:
        return f"hidden width not a multiple of {ops.tile_n}"
    return None


def decoder_sdf(decoder: Decoder, latents: torch.Tensor, points: torch.Tensor, ops=None,
                dtype: torch.dtype | None = None) -> torch.Tensor:
    """``decoder(latents[:, None], points)`` for ``latents`` [G, L] and ``points`` [G, S, 3],
    through the fused step (differentiable in the latents and the decoder's parameters)."""
    ops = ops or default_ops(points.device)
    G, S, _ = points.shape
    why = supported(decoder, S, ops)
    if why:
        raise ValueError(f"fused decoder step: {why}")
    dtype = dtype or (torch.bfloat16 if points.is_cuda else torch.float32)
    pe = ops.encode(points.reshape(-1, 3), decoder.pe, dtype)
    hidden = decoder.layers[0].out_features
    layout = (len(decoder.layers), decoder.latent_dim, decoder.pe.out_dim,
              decoder.skip_layer if decoder.skip_layer is not None else -1, hidden)
    params = [t for layer in decoder.layers for t in (layer.weight, layer.bias)] + [decoder.out.weight, decoder.out.bias]
    return FusedDecoderFn.apply(ops, layout, latents, pe, S, *params).view(G, S)


def ops_for(device, want: bool | None = None):
    """The primitives a frozen-decoder caller (refinement, test-time reconstruction) runs: with ``want``
    None the Triton kernels where they are compiled and None elsewhere (the decoder as a module), with
    True :func:`default_ops` on any device, with False None."""
    return default_ops(device) if (hopper(device) if want is None else want) else None


def frozen_sdf(decoder, latents: torch.Tensor, points: torch.Tensor, ops=None) -> torch.Tensor:
    """float32 ``decoder(latents[:, None], points)`` for ``latents`` [G, L], ``points`` [G, S, 3]: through
    the fused step when ``ops`` is given and can run ``decoder`` (a :class:`Decoder` the kernels support;
    points padded to their row tile; differentiable in the latents, no weight gradients for a frozen
    decoder) on at least ``ops.min_points`` points, else the decoder as a module."""
    rows = points.shape[1]
    padded = rows + -rows % getattr(ops, "tile_m", 1)
    if (ops is None or not isinstance(decoder, Decoder) or supported(decoder, padded, ops) is not None
            or points.shape[0] * rows < ops.min_points):
        return decoder(latents[:, None], points).float()
    if padded > rows:
        points = torch.cat([points, points.new_zeros(points.shape[0], padded - rows, 3)], 1)
    return decoder_sdf(decoder, latents.float(), points, ops)[:, :rows]


def default_ops(device):
    """Triton kernels on a Hopper (or newer) GPU where Triton is installed, the PyTorch reference otherwise."""
    return TritonOps() if hopper(device) else TorchOps()


def hopper(device) -> bool:
    """Whether :class:`TritonOps` can run on ``device`` (tensor-memory copies need compute capability 9)."""
    device = torch.device(device)
    return (device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 9
            and importlib.util.find_spec("triton") is not None)


# ----------------------------------------------------------------------------- Triton kernels

DEFAULT_TILES = dict(BM=128, BN=128, BK=64, GROUP_M=8, num_warps=4, num_stages=5, prefetch=False)


class TritonOps:
    """The primitives as Triton kernels for Hopper GPUs (tensor-memory copies); ``tiles``
    overrides :data:`DEFAULT_TILES` (the best of the tile sweep in bench/deepsdf_fused.py)."""

    # Below this many points a call is cheaper through the module: the fused layers' launches cost a fixed
    # host-side time per step, which one view's refinement does not repay and four views' do
    # (bench/fused_crossover.py measures the crossover).
    min_points = 1 << 17

    def __init__(self, **tiles):
        if importlib.util.find_spec("triton") is None:
            raise RuntimeError("Triton is not installed; use TorchOps")
        from . import fused_kernels

        self.k = fused_kernels
        self.tiles = {**DEFAULT_TILES, **tiles}
        self.tile_m, self.tile_n = self.tiles["BM"], self.tiles["BN"]

    def _gemm(self, mode, a, b, b_nk, out, rows, vec=None, aux=None, head=None, part=None):
        from triton.tools.tensor_descriptor import TensorDescriptor

        t = self.tiles
        BM, BN, BK = t["BM"], t["BN"], t["BK"]
        (M, K), N = a.shape, out.shape[1]
        for name, size, tile in (("M", M, BM), ("N", N, BN), ("K", K, BK)):
            if size % tile:
                raise ValueError(f"{name} = {size} is not a multiple of the tile {tile}")
        desc = TensorDescriptor.from_tensor
        out_d = desc(out, [BM, BN])
        tiles = M // BM * (N // BN)
        grid = (min(tiles, _num_sms(a.device)),)
        self.k.gemm_kernel[grid](desc(a, [BM, BK]), desc(b, [BN, BK] if b_nk else [BK, BN]), out_d,
                           desc(aux, [BM, BN]) if aux is not None else out_d,
                           vec if vec is not None else out, head if head is not None else out,
                           part if part is not None else out, M, N, K, rows,
                           (vec.stride(0) if vec.shape[0] > 1 else 0) if vec is not None else 0,
                           B_NK=b_nk, MODE=mode, HEAD=head is not None, PREFETCH=t["prefetch"], BM=BM, BN=BN,
                           BK=BK, GROUP_M=t["GROUP_M"], NUM_PROGRAMS=grid[0], num_warps=t["num_warps"],
                           num_stages=t["num_stages"])

    def encode(self, points, pe, dtype):
        M = points.shape[0]
        out = torch.empty(M, PE_WIDTH, dtype=dtype, device=points.device)
        self.k.encode_kernel[(-(-M // 128),)](points.float().contiguous(), pe.freqs.float().contiguous(), out, M,
                                              BANDS=len(pe.freqs), WIDTH=PE_WIDTH, BM=128, num_warps=4)
        return out

    def linear_relu(self, a, w, vec, rows, head=None, out=None):
        M, N = a.shape[0], w.shape[0]
        if out is None:
            out = torch.empty(M, N, dtype=a.dtype, device=a.device)
        part = torch.empty(N // self.tile_n, M, dtype=torch.float32, device=a.device) if head is not None else None
        self._gemm(0, a, w, True, out, rows, vec=vec.float().contiguous(),
                   head=head.contiguous() if head is not None else None, part=part)
        return out, (part.sum(0) if part is not None else None)

    def grad_relu(self, g, w, h, rows):
        M, K = g.shape[0], w.shape[1]
        out = torch.empty(M, K, dtype=g.dtype, device=g.device)
        part = torch.empty(M // self.tile_m, K, dtype=torch.float32, device=g.device)
        self._gemm(1, g, w, False, out, rows, aux=h, part=part)
        return out, part.view(M // rows, rows // self.tile_m, K).sum(1)

    def head_grad(self, gpred, w_out, h, rows):
        M, N = h.shape
        BM, BN = self.tile_m, self.tile_n
        out = torch.empty_like(h)
        part_b = torch.empty(M // BM, N, dtype=torch.float32, device=h.device)
        part_w = torch.empty_like(part_b)
        self.k.head_grad_kernel[(M // BM, N // BN)](gpred, w_out.contiguous(), h, out, part_b, part_w, M, N,
                                              BM=BM, BN=BN, num_warps=8)
        return out, part_b.view(M // rows, rows // BM, N).sum(1), part_w.sum(0)


def _num_sms(device) -> int:
    if device.type != "cuda":
        return 4  # Triton's interpreter on a CPU
    return torch.cuda.get_device_properties(device).multi_processor_count
