"""The hand-fused DeepSDF step (sdfnets.deepsdf.fused): its orchestration (latents as per-shape
biases, the skip layer's [h | PE] buffer, per-shape column sums) against autograd through the
Decoder, exactly in float64; the Triton kernels against it through Triton's interpreter where
Triton is installed (on a GPU, bench/deepsdf_fused.py checks the compiled kernels)."""

import importlib.util
import os
import subprocess
import sys

import pytest
import torch

from sdfnets import config
from sdfnets.deepsdf import fused
from sdfnets.deepsdf.model import Decoder
from sdfnets.data.bank import SDFBank
from sdfnets.deepsdf.train import Trainer


def _grads(dec, z, pts, fn, weights):
    dec.zero_grad(set_to_none=True)
    z = z.detach().clone().requires_grad_()
    out = fn(dec, z, pts)
    (out * weights).sum().backward()
    return out.detach(), [z.grad] + [p.grad for p in dec.parameters()]


@pytest.mark.parametrize("layers,skip,align", [(8, 4, 8), (8, 4, 1), (4, 2, 1), (3, 1, 1), (3, 0, 1)])
def test_fused_step_equals_autograd_in_float64(layers, skip, align):
    torch.manual_seed(layers + skip)
    dec = Decoder(64, 32, layers, skip, 6, align).double()
    with torch.no_grad():
        for p in dec.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # off the init: biases and every layer non-trivial
    z, pts = torch.randn(3, 64, dtype=torch.float64), torch.rand(3, 16, 3, dtype=torch.float64) * 2 - 1
    weights = torch.randn(3, 16, dtype=torch.float64)
    ref, g_ref = _grads(dec, z, pts, lambda d, z, p: d(z[:, None], p), weights)
    out, g = _grads(dec, z, pts, lambda d, z, p: fused.decoder_sdf(d, z, p, fused.TorchOps(), torch.float64), weights)
    assert torch.allclose(out, ref, rtol=0, atol=1e-12)
    for a, b in zip(g, g_ref):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    if align > 1:  # the zero columns that pad the input stay zero
        assert torch.equal(dec.layers[0].weight.grad[:, 103:], torch.zeros_like(dec.layers[0].weight.grad[:, 103:]))


def test_fused_recipe_trains_like_the_plain_one_on_a_cpu():
    bank = SDFBank.synthetic(8, 2000, "cpu")
    params = {}
    for kernels in ("inductor", "triton"):  # on a CPU: eager autograd vs the fused step's float32 reference
        cfg = config.resolve("smoke", deepsdf={"recipe": "fast", "kernels": kernels, "shapes_per_step": 4,
                                               "points_per_shape": 256, "lr_schedule": "cosine"})
        tr = Trainer(cfg, bank)
        tr.run(10)
        params[kernels] = [p.detach().clone() for p in tr.decoder.parameters()] + [tr.latents.detach().clone()]
    moved = max((a - b).abs().max() for a, b in zip(params["triton"], Trainer(cfg, bank).decoder.parameters()))
    worst = max((a - b).abs().max() for a, b in zip(params["inductor"], params["triton"]))
    assert moved > 1e-3 and worst < 1e-5  # both trained, to the same weights up to float32 rounding


def test_unsupported_shapes_say_why():
    dec = Decoder(64, 32, 4, 2, 6)
    with pytest.raises(ValueError, match="points per shape"):
        fused.decoder_sdf(dec, torch.zeros(2, 64), torch.zeros(2, 100, 3), ops=_FakeTiled())
    with pytest.raises(ValueError, match="unknown kernels"):
        Trainer(config.resolve("smoke", deepsdf={"kernels": "cuda"}), SDFBank.synthetic(2, 100, "cpu"))
    assert isinstance(fused.default_ops("cpu"), fused.TorchOps)


class _FakeTiled(fused.TorchOps):
    tile_m = 128


INTERPRETED = r"""
import numpy as np
import torch
from triton.runtime import interpreter

# Triton's interpreter (3.6 and before its fix, triton-lang/triton#9171) makes a Python index of a scalar with
# int() of a one-element array, which numpy 2.4 refuses ("only 0-dimensional arrays can be converted"); the
# persistent GEMM's tl.range(tl.program_id(0), ...) needs that index. Read the element instead: only the
# interpreter's scalar-to-index conversion changes, the kernels run as written.
_patch_tensor = getattr(interpreter, "_patch_lang_tensor", None)
if _patch_tensor is not None:
    def _patch_lang_tensor(tensor, scope):
        _patch_tensor(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(np.asarray(self.handle.data).item()))
    interpreter._patch_lang_tensor = _patch_lang_tensor

from sdfnets.deepsdf import fused
from sdfnets.deepsdf.model import Decoder
torch.manual_seed(0)
dec = Decoder(64, 32, 8, 4, 6, 8)
z, pts = torch.randn(2, 64), torch.rand(2, 32, 3) * 2 - 1
w = torch.randn(2, 32)
res = []
for ops in (fused.TorchOps(), fused.TritonOps(BM=16, BN=16, BK=16, GROUP_M=2)):
    dec.zero_grad(set_to_none=True)
    zz = z.clone().requires_grad_()
    out = fused.decoder_sdf(dec, zz, pts, ops)
    (out * w).sum().backward()
    res.append([out.detach(), zz.grad] + [p.grad for p in dec.parameters()])
err = max(float((a - b).norm() / b.norm().clamp_min(1e-30)) for a, b in zip(res[1], res[0]) if b.abs().max() > 0)
print("ERR", err)
"""


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="Triton is not installed")
def test_triton_kernels_in_the_interpreter_match_the_reference():
    env = {**os.environ, "TRITON_INTERPRET": "1"}  # read when the kernels are defined: a fresh process
    res = subprocess.run([sys.executable, "-c", INTERPRETED], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert float(res.stdout.split("ERR")[1]) < 1e-5


def test_a_frozen_decoder_gives_the_latents_their_gradient_and_computes_no_weight_gradients():
    """Silhouette refinement moves latents through a frozen decoder: the fused backward then skips the
    weight gradients and the latents' gradient is autograd's, exactly in float64."""
    torch.manual_seed(3)
    dec = Decoder(64, 32, 8, 4, 6, 8).double()
    with torch.no_grad():
        for p in dec.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    z, pts = torch.randn(3, 64, dtype=torch.float64), torch.rand(3, 16, 3, dtype=torch.float64) * 2 - 1
    weights = torch.randn(3, 16, dtype=torch.float64)
    _, g_ref = _grads(dec, z, pts, lambda d, z, p: d(z[:, None], p), weights)
    for p in dec.parameters():
        p.requires_grad_(False)
    out, g = _grads(dec, z, pts, lambda d, z, p: fused.decoder_sdf(d, z, p, fused.TorchOps(), torch.float64), weights)
    assert torch.allclose(g[0], g_ref[0], rtol=1e-10, atol=1e-12)
    assert all(p.grad is None for p in dec.parameters())


def test_frozen_sdf_pads_to_the_row_tile_and_test_time_reconstruction_fits_the_same_latents():
    """What refinement and test-time reconstruction run on a Hopper GPU: points padded to the kernels' row
    tile give the module's SDF and latent gradient; fit_latents through the fused step (here its float32
    PyTorch reference) reaches the latents the module path reaches."""
    from sdfnets.deepsdf.reconstruct import fit_latents

    torch.manual_seed(5)
    dec = Decoder(16, 32, 4, 2, 6, 8)
    with torch.no_grad():
        for p in dec.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    z, pts = torch.randn(2, 16, requires_grad=True), torch.rand(2, 100, 3) * 2 - 1  # 100 rows: padded to 128
    ref = dec(z[:, None], pts)
    (g_ref,) = torch.autograd.grad(ref.pow(2).sum(), z)
    out = fused.frozen_sdf(dec, z, pts, _FakeTiled())
    (g,) = torch.autograd.grad(out.pow(2).sum(), z)
    assert out.shape == (2, 100)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(g, g_ref, atol=1e-6, rtol=1e-5)
    assert fused.ops_for("cpu") is None and isinstance(fused.ops_for("cpu", True), fused.TorchOps)
    wide = _FakeTiled()
    wide.tile_n = 128  # the Triton kernels' column tile: a 32-wide decoder runs as a module instead
    assert fused.supported(dec, 128, wide) and torch.equal(fused.frozen_sdf(dec, z, pts, wide), ref)
    small = _FakeTiled()
    small.min_points = 10_000  # a call below the kernels' break-even runs as a module
    assert torch.equal(fused.frozen_sdf(dec, z, pts, small), ref) and fused.TritonOps.min_points == 1 << 17

    truth = torch.randn(3, 16) * 0.5
    pts = torch.rand(3, 512, 3) * 2 - 1
    with torch.no_grad():
        sdf = dec(truth[:, None], pts)
    fits = [fit_latents(dec, pts, sdf, steps=30, lr=5e-2, points_per_step=256, fused=f) for f in (False, True)]
    assert float(fits[0].abs().max()) > 1e-2  # it moved from its 0.01-scale start
    torch.testing.assert_close(fits[1], fits[0], atol=1e-4, rtol=1e-3)
    assert all(p.requires_grad for p in dec.parameters())  # the decoder is given back trainable
