"""Phase 11 on several ranks (one trainer, W = 1 is a single device): 2 CPU processes (gloo)
against 1, resuming a 2-process run in 1 process and a 1-process run in 2."""

import math

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sdfnets import config
from sdfnets.deepsdf import distributed as ddp
from sdfnets.deepsdf.train import batch_table, positions_of

pytestmark = pytest.mark.slow  # the check tier (make check, CI)


def _data(n=7, p=3000):
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(n, p, 3, generator=g) * 2 - 1
    radii = torch.linspace(0.3, 0.7, n)[:, None, None]
    return torch.cat([pts, pts.norm(dim=-1, keepdim=True) - radii], dim=-1)


FAST = {"recipe": "fast", "kernels": "triton", "lr_schedule": "cosine"}  # the fused step (its float32 reference on CPU)


def _cfg(**over):
    return config.resolve("smoke", deepsdf={"hidden": 32, "num_layers": 4, "skip_layer": 2, "shapes_per_step": 4,
                                             "points_per_shape": 256, "lr_decoder": 1e-3, "lr_latent": 1e-2, **over})


def _worker(rank, world, init, steps, out, resume, over):
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        ck, _ = ddp.train(_cfg(**over), _data(), steps, rank=rank, world=world,
                          resume=torch.load(resume, weights_only=True) if resume else None)
        if rank == 0:
            torch.save(ck, out)
        dist.barrier()  # nobody tears gloo down while a peer still talks (a teardown abort seen in CI)
    finally:
        dist.destroy_process_group()


def _run(tmp_path, world, steps, name, resume=None, over=None):
    out = tmp_path / f"{name}.pt"
    mp.spawn(_worker, args=(world, f"file://{tmp_path / (name + '.init')}", steps, str(out), resume, over or {}),
             nprocs=world, join=True)
    return torch.load(out, weights_only=True)


def _close(a, b):
    """Equal up to the order of floating-point sums (Adam's g / sqrt(v) amplifies it on tiny gradients)."""
    for k in a["decoder"]:
        torch.testing.assert_close(a["decoder"][k], b["decoder"][k], atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(a["latents"], b["latents"], atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("n, per_step", [(7, 4), (20, 32), (33, 8), (8, 8)])
def test_every_epoch_sees_every_shape_and_ranks_own_fixed_positions(n, per_step):
    for epoch in range(3):
        table = batch_table(0, epoch, n, per_step)
        assert table.shape == (math.ceil(n / per_step), per_step)
        assert sorted(set(table.flatten().tolist())) == list(range(n))  # every shape, a few twice
        assert ((table % per_step) == (torch.arange(per_step) % min(n, per_step))).all()  # position j: shard j
    assert not torch.equal(batch_table(0, 0, n, per_step), batch_table(0, 1, n, per_step)) or n <= per_step
    for world in (1, 2, 4):
        pos = [positions_of(r, world, n, per_step) for r in range(world)]
        assert sorted(sum(pos, [])) == list(range(per_step))  # every position has one owner
        table = batch_table(0, 0, n, per_step)
        for r, p in enumerate(pos):
            assert (table[:, p] % world == r).all()  # ... the rank that holds the shape
    with pytest.raises(ValueError, match="multiple of the number of ranks"):
        positions_of(0, 3, n, per_step)


@pytest.mark.parametrize("over", [{}, FAST], ids=["thesis", "fast"])
def test_two_gloo_processes_match_one(tmp_path, over):
    one, _ = ddp.train(_cfg(**over), _data(), 12)
    two = _run(tmp_path, 2, 12, "two", over=over)
    assert two["world"] == 2 and two["latents"].shape == (7, 64)
    moved = (one["latents"] - ddp.train(_cfg(**over), _data(), 0)[0]["latents"]).abs().max()
    assert moved > 0.05  # it trained, far beyond the tolerance below
    _close(one, two)


def test_a_two_process_run_resumes_in_one_and_back(tmp_path):
    half = _run(tmp_path, 2, 6, "half")
    torch.save(half, tmp_path / "half.ckpt")
    resumed, _ = ddp.train(_cfg(), _data(), 6, resume=torch.load(tmp_path / "half.ckpt", weights_only=True))
    full, _ = ddp.train(_cfg(), _data(), 12)
    assert resumed["step"] == 12
    _close(full, resumed)
    one_half, _ = ddp.train(_cfg(), _data(), 6)  # and a one-process checkpoint continued on two
    torch.save(one_half, tmp_path / "one_half.ckpt")
    back = _run(tmp_path, 2, 6, "back", resume=str(tmp_path / "one_half.ckpt"))
    assert back["step"] == 12
    _close(full, back)


def _dit_inputs():
    from sdfnets.data.cameras import camera_poses

    g = torch.Generator().manual_seed(3)
    return torch.randn(6, 64, generator=g), torch.randn(6, 8, 32, generator=g), torch.from_numpy(camera_poses(8)).float()


def _dit_cfg():
    return config.resolve("smoke", image2latent={"steps": 30, "batch": 8})


def _dit_worker(rank, world, init, runs, out):
    import os

    from sdfnets.image2latent import train as i2l

    os.environ["SDFNETS_RUNS_DIR"] = runs
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        m = i2l.train_dit(_dit_cfg(), *_dit_inputs(), encoder="test", progress=False, rank=rank, world=world)
        if rank == 0:
            torch.save({"dit": m.dit.state_dict(), "history": m.history}, out)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_dit_on_two_gloo_processes_matches_one(tmp_path, monkeypatch):
    from sdfnets.image2latent import train as i2l

    monkeypatch.setenv("SDFNETS_RUNS_DIR", str(tmp_path / "one"))
    one = i2l.train_dit(_dit_cfg(), *_dit_inputs(), encoder="test", progress=False)
    out = tmp_path / "two.pt"
    mp.spawn(_dit_worker, args=(2, f"file://{tmp_path / 'dit.init'}", str(tmp_path / "two"), str(out)), nprocs=2,
             join=True)
    two = torch.load(out, weights_only=False)
    for k, v in one.dit.state_dict().items():
        torch.testing.assert_close(two["dit"][k], v, atol=1e-4, rtol=1e-3)  # summation order, through Adam
    assert abs(two["history"][-1][1] - one.history[-1][1]) < 1e-4 * max(1.0, one.history[-1][1])


def _run_worker(rank, world, init, runs, steps):
    import os

    from sdfnets.data import load_or_build
    from sdfnets.deepsdf.train import train

    os.environ["SDFNETS_RUNS_DIR"] = runs
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        cfg = _cfg(**FAST, epochs=8, checkpoint_every=2)
        train(cfg, load_or_build(cfg.data, progress=False), device="cpu", max_steps=steps, progress=False,
              rank=rank, world=world, log_every=2)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_a_run_folder_started_on_two_ranks_finishes_on_one(tmp_path, smoke_dataset, monkeypatch):
    """The phase-11 run itself (load-or-train, key, checkpoints): interrupted on 2 gloo ranks, resumed
    and finished in one process, it equals the uninterrupted one-process run in another folder."""
    from sdfnets.deepsdf.train import train

    cfg = _cfg(**FAST, epochs=8, checkpoint_every=2)
    runs = tmp_path / "runs"
    mp.spawn(_run_worker, args=(2, f"file://{tmp_path / 'run.init'}", str(runs), 6), nprocs=2, join=True)
    monkeypatch.setenv("SDFNETS_RUNS_DIR", str(runs))
    resumed = train(cfg, smoke_dataset, device="cpu", progress=False, log_every=2)
    assert resumed.resumed_from == 6 and resumed.steps == 16  # 8 shapes / 4 per step x 8 epochs
    monkeypatch.setenv("SDFNETS_RUNS_DIR", str(tmp_path / "other"))
    whole = train(cfg, smoke_dataset, device="cpu", progress=False, log_every=2)
    assert whole.resumed_from == 0 and whole.run_dir.name == resumed.run_dir.name  # the same run, by key
    torch.testing.assert_close(resumed.latents, whole.latents, atol=1e-4, rtol=1e-3)
    for k, v in whole.decoder.state_dict().items():
        torch.testing.assert_close(resumed.decoder.state_dict()[k], v, atol=2e-5, rtol=1e-4)
