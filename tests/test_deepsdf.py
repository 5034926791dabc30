import math

import numpy as np
import pytest
import torch
import trimesh

from sdfnets import config, metrics
from sdfnets.deepsdf import evaluate as ev
from sdfnets.data.bank import SDFBank
from sdfnets.deepsdf import reconstruct
from sdfnets.deepsdf.model import Decoder
from sdfnets.deepsdf.train import train
from sdfnets.field import default_chunk, grid_points, grid_to_mesh, sdf_grid
from sdfnets.layers import PositionalEncoding, count_parameters
from sdfnets.metrics import pairwise_cosine


def test_thesis_decoder_size_and_shape():
    dec = Decoder()  # 64 + 39 inputs, 8 x 512, skip before the fifth layer
    assert count_parameters(dec) == 1_945_089  # the thesis' "~1.95 M"
    assert dec.layers[0].in_features == 103 and dec.layers[4].in_features == 512 + 103
    out = dec(torch.zeros(5, 1, 64), torch.rand(5, 7, 3))
    assert out.shape == (5, 7)


def test_positional_encoding_values():
    pe = PositionalEncoding(6)
    x = torch.tensor([[0.25, -0.5, 1.0]])
    y = pe(x)
    assert y.shape == (1, 39) and pe.out_dim == 39
    assert torch.allclose(y[0, :3], x[0])
    # band k of coordinate c sits at 3 + c * 6 + k (sines) and 21 + c * 6 + k (cosines)
    assert y[0, 3 + 0 * 6 + 2].item() == pytest.approx(math.sin(4 * math.pi * 0.25), abs=1e-6)
    assert y[0, 21 + 1 * 6 + 3].item() == pytest.approx(math.cos(8 * math.pi * -0.5), abs=1e-6)


@pytest.fixture(scope="module")
def smoke_run(smoke_dataset):
    cfg = config.resolve("smoke")
    return cfg, train(cfg, smoke_dataset, progress=False, log_every=10, device="cpu")


def test_training_lowers_the_loss_and_loads_when_done(smoke_run, smoke_dataset):
    cfg, run = smoke_run
    assert run.steps == 2 * cfg.deepsdf.epochs  # 8 shapes, 4 per step
    assert run.history[-1][1] < 0.6 * run.history[0][1]
    ck = torch.load(run.run_dir / "final.pt", weights_only=False)
    assert ck["config"]["deepsdf"]["hidden"] == cfg.deepsdf.hidden and ck["indices"] == list(range(8))
    again = train(cfg, smoke_dataset, progress=False, device="cpu")
    assert torch.equal(again.latents, run.latents) and again.history == run.history


def test_interrupted_training_resumes_to_the_same_result(smoke_dataset, tmp_path):
    cfg = config.resolve("smoke", deepsdf={"epochs": 10, "checkpoint_every": 7})
    ids = [0, 2, 4, 6, 7]
    full = train(cfg, smoke_dataset, ids, progress=False, device="cpu", run_dir=tmp_path / "a")
    part = train(cfg, smoke_dataset, ids, progress=False, device="cpu", run_dir=tmp_path / "b", max_steps=9)
    assert part.steps == 9 and (tmp_path / "b" / "last.pt").exists()
    resumed = train(cfg, smoke_dataset, ids, progress=False, device="cpu", run_dir=tmp_path / "b")
    assert resumed.resumed_from == 9 and resumed.steps == full.steps
    assert torch.equal(resumed.latents, full.latents)
    for a, b in zip(full.decoder.state_dict().values(), resumed.decoder.state_dict().values()):
        assert torch.equal(a, b)
    assert not (tmp_path / "b" / "last.pt").exists()


def test_marching_cubes_of_an_analytic_sphere():
    ax = np.linspace(-1.02, 1.02, 64)
    grid = np.linalg.norm(np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1), axis=-1) - 0.6
    mesh = grid_to_mesh(grid)
    assert mesh.is_watertight and mesh.volume == pytest.approx(4 / 3 * math.pi * 0.6**3, rel=0.02)
    assert grid_to_mesh(np.ones((8, 8, 8))) is None


def test_grid_chunks_change_speed_not_values():
    """CPU grids go in cache-sized chunks (default 4,096 points), GPU ones in 2^18: same values."""
    assert default_chunk("cpu") == 4096 and default_chunk("cuda") == 2**18 and default_chunk("cuda", gpu=7) == 7
    dec = Decoder(16, 32, 4, 2).eval()
    field = dec.field(torch.randn(16))
    ref = sdf_grid(field, 20, chunk=20**3)  # one call
    assert np.allclose(sdf_grid(field, 20), ref, atol=1e-6) and np.allclose(sdf_grid(field, 20, chunk=999), ref, atol=1e-6)
    with torch.no_grad():  # and the grid is the field at the grid's points, x slowest
        direct = field(grid_points(20)).reshape(20, 20, 20).numpy()
    assert np.allclose(ref, direct, atol=1e-6)
    from sdfnets.weightspace import analysis
    from sdfnets.weightspace.nets import NetSpec, init_params

    spec = NetSpec("relu_pe", hidden=16, num_layers=2)
    params = init_params(spec, 3)
    assert np.allclose(analysis.sdf_grids(spec, params, 12), analysis.sdf_grids(spec, params, 12, chunk=2**21),
                       atol=1e-6)


def test_metrics_on_known_cases():
    sphere = trimesh.creation.icosphere(5, 0.5)
    pts, normals = metrics.sample_surface(sphere, 20_000, seed=1)
    gt = {"surface_points": pts, "surface_normals": normals}
    rng = np.random.default_rng(0)
    cube = rng.uniform(-1, 1, (20_000, 3))
    gt.update(points=cube, sdf=np.linalg.norm(cube, axis=1) - 0.5, is_near=np.zeros(len(cube), bool))
    same = metrics.mesh_metrics(sphere, gt, seed=2)
    assert same["chamfer_l1"] < 0.01 and same["fscore"] > 0.99 and same["normal_consistency"] > 0.99
    assert same["iou"] > 0.98
    moved = metrics.mesh_metrics(sphere.copy().apply_translation((0.1, 0, 0)), gt, seed=2)
    assert 0.03 < moved["chamfer_l1"] < 0.1 and moved["fscore"] < 0.5 and moved["iou"] < 0.8
    empty = metrics.mesh_metrics(None, gt)
    assert empty["fscore"] == 0.0 and math.isnan(empty["chamfer_l1"])


def test_pairwise_cosines_and_point_cloud_samples():
    c = pairwise_cosine(np.array([[1.0, 0], [0, 2.0], [1, 1]]))
    assert sorted(np.round(c, 4)) == sorted(np.round([0, 0, 2**-0.5, 2**-0.5, 2**-0.5, 2**-0.5], 4))
    p, s = reconstruct.samples_from_point_cloud(np.zeros((2, 5, 3)), np.tile([0, 0, 1.0], (2, 5, 1)), eps=0.01)
    assert p.shape == (2, 15, 3) and s.shape == (2, 15)
    assert torch.allclose(p[0, 5:10, 2], torch.full((5,), 0.01)) and (s[0, 10:] == -0.01).all()


def test_test_time_fit_recovers_a_training_shape(smoke_run, smoke_dataset):
    cfg, run = smoke_run
    bank = SDFBank.from_dataset(smoke_dataset, device="cpu")
    trained = ev.per_shape_sdf_l1(run.decoder, run.latents, bank)
    z = reconstruct.reconstruct(run.decoder, smoke_dataset, [3, 5], steps=150)
    fitted = ev.per_shape_sdf_l1(run.decoder, z, SDFBank.from_dataset(smoke_dataset, [3, 5], device="cpu"))
    random = ev.per_shape_sdf_l1(run.decoder, torch.randn(2, 64) * 0.01, SDFBank.from_dataset(smoke_dataset, [3, 5],
                                                                                             device="cpu"))
    assert (fitted < random).all() and (fitted < 1.5 * trained[[3, 5]]).all()


def test_release_round_trip(smoke_run, smoke_dataset, tmp_path):
    from sdfnets.deepsdf import release

    cfg, run = smoke_run
    path = release.export(run.run_dir, tmp_path / "r.safetensors", dataset=smoke_dataset,
                          metrics={"sdf_l1_mean": 0.1}, card="# card\n")
    decoder, latents, meta = release.load(path)
    assert meta["uids"][3] == smoke_dataset.uid_of(3) and meta["metrics"] == {"sdf_l1_mean": 0.1}
    assert torch.allclose(latents, run.latents.half().float())
    x = torch.rand(2, 50, 3)
    assert torch.allclose(decoder(latents[:2, None], x), run.decoder(run.latents[:2, None], x), atol=2e-2)
    assert (tmp_path / "r.md").read_text() == "# card\n"


def test_a_release_replaced_by_a_fresh_copy_is_restored_from_its_run(smoke_run, smoke_dataset, tmp_path):
    """On a node where each job starts from a fresh copy of the repository, the committed release comes back
    over the one notebook 11 exported; notebook 12 puts the run's kept export back before it checks."""
    from sdfnets.deepsdf import release

    _, run = smoke_run
    path = release.export(run.run_dir, tmp_path / "fresh" / "r.safetensors", dataset=smoke_dataset, card="# run\n")
    exported = path.read_bytes()
    path.write_bytes(b"the committed release")
    path.with_suffix(".md").write_text("# committed\n")
    with pytest.raises(Exception):
        release.check_run(path, run.latents)
    assert release.restore_from_run(path, run.run_dir)
    assert path.read_bytes() == exported and path.with_suffix(".md").read_text() == "# run\n"
    release.check_run(path, run.latents)  # passes now
    assert not release.restore_from_run(path, run.run_dir)  # nothing to do
    assert not release.restore_from_run(tmp_path / "other.safetensors", run.run_dir)  # no export of that name kept
