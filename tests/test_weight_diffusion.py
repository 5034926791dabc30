"""The weight-space diffusion line: the weight DiT, standardisation, load-or-train, sampling, the
loss profile and the collapse diagnostics, on small synthetic weight sets."""

import dataclasses

import numpy as np
import pytest
import torch

from sdfnets import config, metrics, paths
from sdfnets.diffusion import ddim
from sdfnets.diffusion.dit import WeightDiT
from sdfnets.diffusion.sampler import loss_by_timestep
from sdfnets.layers import count_parameters
from sdfnets.weightspace import collapse, generate
from sdfnets.weightspace.fit import WeightSet
from sdfnets.weightspace.nets import NetSpec


def test_weight_tokens_cover_the_vector_and_the_full_model_is_the_thesis_size():
    m = WeightDiT(54_785, tokens=8, feature_dim=256, d_model=16, num_layers=1, num_heads=2)
    split = m.split()
    assert split[0][0] == 0 and split[-1][1] == 54_785 and m.chunk % 8 == 0 and len(split) == 8
    assert all(a[1] == b[0] for a, b in zip(split, split[1:]))
    with torch.device("meta"):  # the write-up's ~132 M, without allocating it
        full = WeightDiT(54_785, **{k: getattr(config.resolve("full").weightdiff, k)
                                    for k in ("tokens", "d_model", "num_layers", "num_heads")}, feature_dim=256)
    assert 125e6 < count_parameters(full) < 140e6


def test_weight_dit_forward_conditioned_and_not():
    torch.manual_seed(0)
    x, t = torch.randn(3, 100), torch.tensor([0, 10, 499])
    cond = WeightDiT(100, tokens=4, feature_dim=5, d_model=16, num_layers=2, num_heads=2, pose_dim=4)
    tokens = cond.view_tokens(torch.randn(3, 2, 5), torch.randn(3, 2, 4))
    assert cond(x, t, tokens).shape == (3, 100)
    uncond = WeightDiT(100, tokens=4, d_model=16, num_layers=2, num_heads=2)
    assert uncond(x, t).shape == (3, 100) and uncond.feature_dim == 0
    # AdaLN-Zero: the untrained model predicts exactly zero, whatever the input
    assert torch.equal(uncond(x, t), torch.zeros(3, 100))


def test_standardiser_round_trip_constant_dims_and_global():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(20, 6, generator=g) * torch.tensor([1.0, 2.0, 1e-3, 5.0, 1.0, 1.0]) + 3.0
    w[:, 4] = 0.25  # a dimension no network changed
    s = generate.Standardiser.fit(w, "per_dim")
    z = s(w)
    assert torch.allclose(z.std(0)[[0, 1, 2, 3, 5]], torch.ones(5), atol=1e-4) and torch.equal(z[:, 4], torch.zeros(20))
    torch.testing.assert_close(s.inverse(z), w)
    sg = generate.Standardiser.fit(w, "global")
    assert sg.std.dim() == 0
    torch.testing.assert_close(sg.inverse(sg(w)), w)
    with pytest.raises(ValueError, match="standardisation"):
        generate.Standardiser.fit(w, "nope")


def _tiny(num=12, seed=0):
    spec = NetSpec(hidden=8, num_layers=2, pe_bands=1)
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(spec.num_params, generator=g)
    w = base + 0.1 * torch.randn(num, spec.num_params, generator=g)
    ws = WeightSet(spec, w, base.expand(num, -1).clone(), list(range(num)), [str(i) for i in range(num)],
                   np.zeros(num), {})
    cfg = config.resolve("smoke", weightdiff={"d_model": 16, "num_layers": 1, "num_heads": 2, "steps": 60,
                                               "batch": 8, "lr": 3e-3, "checkpoint_every": 30})
    return cfg, ws


def test_train_sample_and_reload_unconditional():
    cfg, ws = _tiny()
    cfg = config.weight_phase(cfg, "phase2")
    gen = generate.train_weight_dit(cfg, ws, range(10), tag="test-uncond", progress=False)
    assert gen.history[-1][1] < 0.95  # it learns: the untrained model predicts the mean (loss ~1 in standardised units)
    s = gen.sample(num=3, seed=1)
    assert s.shape == (3, ws.spec.num_params) and torch.isfinite(s).all()
    torch.testing.assert_close(gen.sample(num=3, seed=1), s)  # seeded
    final = next(paths.runs_dir().glob("weightdit/test-uncond-*/final.pt"))
    stamp = final.stat().st_mtime_ns
    again = generate.train_weight_dit(cfg, ws, range(10), tag="test-uncond", progress=False)  # loaded, not retrained
    assert final.stat().st_mtime_ns == stamp and again.history == gen.history
    torch.testing.assert_close(again.sample(num=3, seed=1), s)
    with pytest.raises(ValueError, match="unconditional"):
        gen.sample(torch.zeros(1, 1, 4), torch.eye(4)[None, None])
    prof = gen.loss_profile(ws.weights[:10], [0, 250, 499])
    assert prof.shape == (3,) and (prof > 0).all()


def test_train_conditioned_predict_and_errors():
    cfg, ws = _tiny()
    cfg = config.weight_phase(cfg, "phase7")
    feats = torch.randn(12, 6, 5)
    poses = torch.eye(4).repeat(6, 1, 1)
    poses[:, :3, 3] = torch.randn(6, 3)
    with pytest.raises(ValueError, match="needs features"):
        generate.train_weight_dit(cfg, ws, range(10), tag="x", progress=False)
    with pytest.raises(ValueError, match="siren"):
        generate.train_weight_dit(config.weight_phase(cfg, "phase5"), ws, range(10), features=feats[:10],
                                  poses=poses, encoder="e", tag="x", progress=False)
    gen = generate.train_weight_dit(cfg, ws, range(10), features=feats[:10], poses=poses, encoder="e",
                                    tag="test-cond", progress=False)
    pred, views = gen.predict(feats, poses, [10, 11], k=3, seed=0)
    assert pred.shape == (2, ws.spec.num_params) and views.shape == (2, 3)
    assert len(set(views[0].tolist())) == 3
    with pytest.raises(ValueError, match="image-conditioned"):
        gen.sample(num=2)
    # guidance 0: the same draws with the "no image" token, which ignores the views
    u1, _ = gen.predict(feats, poses, [10, 11], k=3, seed=0, guidance=0.0)
    u2, _ = gen.predict(feats * 5, poses, [10, 11], k=3, seed=0, guidance=0.0)
    assert torch.allclose(u1, u2) and not torch.allclose(u1, pred)


def test_nudge_of_constructed_predictions():
    g = torch.Generator().manual_seed(0)
    truth = torch.randn(6, 20, generator=g)
    uncond = torch.randn(6, 20, generator=g) * 0.01 + 3.0  # the unconditional draws sit around c = 3
    c = uncond.mean(0)
    for share in (0.0, 0.03, 1.0):  # predictions that go that share of the way from c to their targets
        n = collapse.nudge(c + share * (truth - c), uncond, truth)
        assert np.isclose(n["toward_mean"], share, atol=1e-6) and np.isclose(n["moved_mean"], share, atol=1e-6)
    side = torch.zeros_like(truth)  # moved as far as the target, at right angles to it: moved 1, toward 0
    for i, t in enumerate(truth - c):
        v = torch.randn(20, generator=g)
        v -= (v @ t) / (t @ t) * t
        side[i] = c + v / v.norm() * t.norm()
    n = collapse.nudge(side, uncond, truth)
    assert np.isclose(n["moved_mean"], 1.0) and abs(n["toward_mean"]) < 1e-6


def test_topk_overlap_counts_shared_attractors():
    same = np.tile(np.arange(5), (32, 1))  # every input's 5 nearest are the same 5 shapes (the write-up's picture)
    o = collapse.topk_overlap(same, sizes=(4, 32), draws=20)
    assert o[4] == {"common_mean": 5.0, "common_max": 5, "union_mean": 5.0, "share_common": 1.0}
    assert o[32]["common_mean"] == 5.0
    apart = np.arange(160).reshape(32, 5)  # no two inputs share a shape
    o = collapse.topk_overlap(apart, sizes=(4, 8, 64), draws=20)
    assert set(o) == {4, 8} and o[4]["common_mean"] == 0 and o[4]["union_mean"] == 20 and o[8]["union_mean"] == 40
    half = np.where(np.arange(32)[:, None] < 16, np.arange(5), np.arange(5) + 100)  # two clusters of 16
    o = collapse.topk_overlap(half, sizes=(4,), draws=400, seed=1)
    p_one_cluster = 2 * (16 * 15 * 14 * 13) / (32 * 31 * 30 * 29)  # all four drawn from one cluster
    assert abs(o[4]["share_common"] - p_one_cluster) < 0.05


def test_loss_by_timestep_of_exact_and_mean_predictors():
    sched = ddim.CosineDDIM(500)
    x0 = torch.randn(10, 7, generator=torch.Generator().manual_seed(0))
    exact = loss_by_timestep(lambda x, t, rows: x0[rows], x0, sched, [0, 100, 499], batch=4)
    assert np.allclose(exact, 0)
    mean = loss_by_timestep(lambda x, t, rows: torch.zeros_like(x), x0, sched, [0, 499], batch=3)
    assert np.allclose(mean, float(x0.pow(2).mean()))


def test_attractors_hand_made():
    bank = torch.eye(4)  # four training vectors
    truth = torch.tensor([[0.0, 0.0, 1.0, 0.1], [0.0, 0.1, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]])
    pred = torch.tensor([[1.0, 0.0, 0.2, 0.0], [1.0, 0.1, 0.0, 0.2], [0.1, 1.0, 0.0, 0.0]])
    a = metrics.attractors(pred, truth, bank, k=2)
    assert a["top"][:, 0].tolist() == [0, 0, 1] and a["top1_counts"] == {0: 2, 1: 1}
    assert a["rows_for_half"] == 1 and a["distinct_top1"] == 2
    assert a["closer"].tolist() == [True, True, False]  # the third lands on its own target
    assert np.isclose(a["cos_true"][2], float(torch.nn.functional.cosine_similarity(pred[2], truth[2], dim=0)))


def test_generated_set_of_itself_and_of_copies():
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(5, 64, 3, generator=g)
    train = torch.rand(6, 64, 3, generator=g)
    same = collapse.generated(ref, ref, train, device="cpu")
    assert same["mmd"] < 1e-6 and same["cov"] == 1 and np.isclose(same["nearest_train_ratio"], 1)
    copies = collapse.generated(train[:4], ref, train, device="cpu")
    assert copies["sample_nearest_train_median"] < 1e-6 and copies["nearest_train"] == [0, 1, 2, 3]


def test_weight_phases_change_only_their_switches():
    base = config.resolve("smoke")
    p7 = config.weight_phase(base, "phase7")
    diff = {f.name for f in dataclasses.fields(p7.weightdiff) if getattr(p7.weightdiff, f.name) != getattr(base.weightdiff, f.name)}
    assert diff == {"max_views", "eval_views"}
    assert config.weight_phase(base, "phase5").weightdiff.family == "siren"
    with pytest.raises(ValueError, match="phase"):
        config.weight_phase(base, "phase99")


def test_hypernetwork_starts_at_the_anchor_and_learns(smoke_dataset):
    from sdfnets.weightspace import hypernet

    cfg = config.resolve("smoke", hypernet={"steps": 60, "hidden": 16})
    spec = NetSpec()
    anchor = torch.randn(spec.num_params, generator=torch.Generator().manual_seed(0)) * 0.05
    net = hypernet.HyperNet(spec, anchor, code_dim=8, hidden=16)
    torch.testing.assert_close(net(torch.randn(3, 8)), anchor.expand(3, -1))  # zero heads: every code is the anchor
    r = hypernet.train_hypernet(cfg, smoke_dataset, [0, 1, 2], anchor, device="cpu", progress=False)
    assert r.codes.shape == (3, cfg.hypernet.code_dim) and r.weights().shape == (3, spec.num_params)
    assert r.history[-1][1] < r.history[0][1] and not torch.equal(r.weights()[0], anchor)
    vae, hist, mean, std = hypernet.train_vae(cfg, r.codes, device="cpu")
    assert vae.encode((r.codes - mean) / std)[0].shape == (3, cfg.hypernet.vae_latent) and hist[-1][1] < hist[0][1]
