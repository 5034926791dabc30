"""Phases 0-1.5: per-shape networks, batched training, alignment and the diagnostics."""

import numpy as np
import pytest
import torch

from sdfnets.data.bank import SDFBank
from sdfnets.weightspace import align, analysis, fit
from sdfnets.weightspace.nets import NetSpec, flatten, forward, init_params, select, to_sequential, unflatten


def _bank(n=3, p=4000, seed=0):
    g = torch.Generator().manual_seed(seed)
    pts = torch.rand(n, p, 3, generator=g) * 2 - 1
    radii = torch.linspace(0.3, 0.7, n)[:, None, None]
    return SDFBank(torch.cat([pts, pts.norm(dim=-1, keepdim=True) - radii], dim=-1))


def test_parameter_counts_and_layout_match_plain_pytorch():
    relu, siren = NetSpec("relu_pe"), NetSpec("siren")
    assert relu.num_params == 54_785 and relu.in_dim == 39
    assert siren.num_params == 50_177
    p = init_params(relu, 3, seed=1)
    seq = to_sequential(relu, p, 2)
    assert sum(q.numel() for q in seq.parameters()) == 54_785
    flat = flatten(relu, p)
    assert torch.equal(flat[2], torch.cat([q.detach().flatten() for q in seq.parameters()]))
    x = torch.rand(3, 50, 3) * 2 - 1
    torch.testing.assert_close(forward(relu, p, x)[2], seq(x[2]).squeeze(-1).detach())
    assert all(torch.equal(unflatten(relu, flat)[k], p[k]) for k in p)
    assert relu.offsets()["out.bias"] == (54_784, 54_785)
    with pytest.raises(ValueError, match="unknown network family"):
        NetSpec("tanh")


def test_batched_gradients_equal_each_network_alone():
    spec = NetSpec("siren", hidden=16, num_layers=2)
    p = {k: v.requires_grad_() for k, v in init_params(spec, 3, seed=0).items()}
    bank = _bank()
    pts, sdf = bank.data[:, :256, :3], bank.data[:, :256, 3]
    fit.sdf_loss(spec, p, pts, sdf, 0.1).sum().backward()
    for i in range(3):
        one = {k: v[i:i + 1].detach().clone().requires_grad_() for k, v in p.items()}
        fit.sdf_loss(spec, one, pts[i:i + 1], sdf[i:i + 1], 0.1).sum().backward()
        for k in p:
            torch.testing.assert_close(p[k].grad[i], one[k].grad[0])


def test_fit_learns_and_resumes_to_the_same_result(tmp_path):
    spec = NetSpec("relu_pe", hidden=32, num_layers=2)
    bank = _bank()
    init = init_params(spec, 3, seed=0)
    kw = dict(lr=3e-3, steps=40, points_per_shape=512, checkpoint_every=10, log_every=10, progress=False)
    full, hist, _ = fit.fit(spec, init, bank, **kw)
    assert hist[-1][1] < 0.5 * hist[0][1]
    fit.fit(spec, init, bank, run_dir=tmp_path, max_steps=20, **kw)
    assert (tmp_path / "last.pt").exists()
    resumed, hist2, _ = fit.fit(spec, init, bank, run_dir=tmp_path, **kw)
    assert [h[0] for h in hist2] == [10, 20, 30, 40]
    for k in full:
        torch.testing.assert_close(resumed[k], full[k])


def test_weight_set_round_trip(tmp_path):
    spec = NetSpec("relu_pe")
    w = flatten(spec, init_params(spec, 2))
    ws = fit.WeightSet(spec, w, w * 0, [3, 5], ["a", "b"], np.array([0.1, 0.2]), {"init_kind": "anchor"})
    back = fit.WeightSet.load(ws.save(tmp_path / "w.safetensors"))
    assert torch.equal(back.weights, w) and back.obj_idx == [3, 5] and back.uids == ["a", "b"]
    assert back.spec == spec and back.meta["init_kind"] == "anchor" and back.offsets == spec.offsets()


@pytest.mark.parametrize("family", ["relu_pe", "siren"])
def test_weight_matching_undoes_a_permutation(family):
    spec = NetSpec(family, hidden=24, num_layers=3)
    a = init_params(spec, 1, seed=4)
    rng = np.random.default_rng(0)
    perms = [rng.permutation(24) for _ in range(3)]
    b = align.permute(spec, a, perms)
    x = torch.rand(1, 100, 3) * 2 - 1
    torch.testing.assert_close(forward(spec, b, x), forward(spec, a, x))  # same function
    assert not torch.equal(b["l1.weight"], a["l1.weight"])
    back = align.align_to(spec, a, b)
    for k in a:
        torch.testing.assert_close(back[k], a[k])


def test_perturbation_and_collapse_definition():
    spec = NetSpec("relu_pe", hidden=32, num_layers=2)
    p = init_params(spec, 2, seed=0)
    p["out.bias"] = p["out.bias"] * 0 + 0.01  # both networks cross zero somewhere
    iou = analysis.perturbation_curve(spec, p, [0.0, 0.5, 5.0], draws=2, resolution=12)
    assert iou.shape == (3, 4) and np.all(iou[0] == 1.0) and iou[2].mean() < 0.9
    sig = np.array([0.0, 0.1, 0.2, 0.3])
    curve = np.array([[1.0, 1.0], [0.8, 0.8], [0.4, 0.4], [0.1, 0.1]])
    assert analysis.collapse_sigma(sig, curve) == pytest.approx(0.175)
    assert analysis.collapse_sigma(sig, np.ones((4, 2))) == float("inf")


def test_shell_stats_on_constructed_weights():
    g = torch.Generator().manual_seed(0)
    anchor = torch.randn(1000, generator=g)
    w = anchor + 0.1 * torch.randn(20, 1000, generator=g)
    w[:, :7] = anchor[:7]  # seven coordinates never move
    s = analysis.shell_stats(w, anchor.expand(20, -1))
    assert s["pairwise_cosine"] == pytest.approx(1 / (1 + 0.01), abs=0.01)
    assert abs(s["residual_cosine"]) < 0.05 and s["low_std_dims"] == 7
    assert np.allclose(s["init_share"], 0.995, atol=0.005) and s["pca_explained"].sum() == pytest.approx(1)
    r = analysis.shell_stats(torch.randn(20, 1000, generator=g), torch.randn(20, 1000, generator=g))
    assert abs(r["pairwise_cosine"]) < 0.05 and r["low_std_dims"] == 0


def test_weight_and_field_interpolation_agree_for_one_network():
    spec = NetSpec("relu_pe", hidden=16, num_layers=2)
    a = init_params(spec, 2, seed=0)
    dev = analysis.blend_deviation(spec, a, a, [0.0, 0.5, 1.0], torch.rand(200, 3))
    assert np.allclose(dev, 0, atol=1e-6)
    other = init_params(spec, 2, seed=1)
    assert analysis.blend_deviation(spec, a, other, [0.5], torch.rand(200, 3)).min() > 0
    assert select(a, 1)["l0.weight"].shape[0] == 1
