"""Phase 12: encoders, the diffusion model and sampler, the release format, image input checks
and the image -> mesh command."""

import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from sdfnets.data import cameras
from sdfnets import config, paths
from sdfnets.data.cameras import camera_poses
from sdfnets.app import image2mesh as pipeline
from sdfnets.image2latent import encoders, release
from sdfnets.diffusion.sampler import Standardiser
from sdfnets.image2latent import model as i2l_model
from sdfnets.image2latent import train as i2l
from sdfnets import metrics
from sdfnets.diffusion.dit import LatentDiT
from sdfnets.layers import count_parameters, pose_embedding
from sdfnets.quantize import dequantize, quantize

RELEASE = paths.RELEASE_DIR / pipeline.DEFAULT_RELEASE


def test_dit_size_and_masked_views():
    dit = LatentDiT(64, 256, 384, 4, 6, 64)
    assert count_parameters(dit) == 11_358_400  # the write-up's "~10 M"
    for p in dit.parameters():  # AdaLN-Zero starts as the identity; give it some signal
        torch.nn.init.normal_(p, std=0.02)
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(2, 64, generator=g), torch.tensor([3, 400])
    tokens = torch.randn(2, 5, 384, generator=g)
    pad = torch.tensor([[False, False, True, True, True]] * 2)
    out = dit(x, t, tokens, pad)
    tokens2 = tokens.clone()
    tokens2[:, 2:] = 100.0  # padded tokens must not matter
    torch.testing.assert_close(dit(x, t, tokens2, pad), out)
    torch.testing.assert_close(dit(x, t, tokens[:, :2]), out, atol=1e-5, rtol=1e-4)
    poses = torch.from_numpy(camera_poses(8)).float()
    pe = pose_embedding(poses)
    assert pe.shape == (8, 64) and torch.cdist(pe, pe).fill_diagonal_(1).min() > 0.1


def test_dit_training_learns_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_RUNS_DIR", str(tmp_path))
    cfg = config.resolve("smoke", image2latent={"steps": 400})
    g = torch.Generator().manual_seed(0)
    lat, feats = torch.randn(6, 64, generator=g), torch.randn(6, 8, 32, generator=g)
    poses = torch.from_numpy(camera_poses(8)).float()
    full = i2l.train_dit(cfg, lat, feats, poses, encoder="test", tag="a", progress=False, checkpoint_every=100)
    assert [h[0] for h in full.history] == [100, 200, 300, 400] and full.history[-1][1] < 0.7 * full.history[0][1]
    monkeypatch.setenv("SDFNETS_RUNS_DIR", str(tmp_path / "b"))
    i2l.train_dit(cfg, lat, feats, poses, encoder="test", tag="a", progress=False, checkpoint_every=100, max_steps=200)
    resumed = i2l.train_dit(cfg, lat, feats, poses, encoder="test", tag="a", progress=False, checkpoint_every=100)
    for k, v in full.dit.state_dict().items():
        torch.testing.assert_close(resumed.dit.state_dict()[k], v)
    pred, _ = full.predict(feats, poses, range(6), 2)
    r = metrics.recall(pred, lat, range(6))
    assert r["rank"].shape == (6,) and np.all(r["cos"] <= 1 + 1e-6)
    with pytest.raises(ValueError, match="trained on 'test' features"):
        full.sample(feats[:1, :2], poses[None, :2], encoder="dinov2-base")


def test_recall_and_retrieval_on_constructed_data():
    lat = torch.eye(4, 8)
    r = metrics.recall(lat + 0.01, lat, range(4))
    assert np.all(r["rank"] == 1) and np.all(r["margin"] > 0.9)
    r = metrics.recall(lat[[1, 0, 2, 3]], lat, range(4))
    assert list(r["rank"]) == [2, 2, 1, 1]
    feats = torch.eye(4, 6)[:, None, :].expand(4, 3, 6)
    assert metrics.retrieve(feats, [2], torch.tensor([[0, 1]]), [0, 1, 2, 3]).tolist() == [2]


def test_oracle_retrieval_finds_the_nearest_true_surface():
    from sdfnets.image2latent.generalise import oracle_rows

    rng = np.random.default_rng(0)
    sphere = rng.normal(size=(500, 3))
    sphere /= np.linalg.norm(sphere, axis=1, keepdims=True)
    box = rng.uniform(-1, 1, size=(500, 3))
    box[np.arange(500), rng.integers(0, 3, 500)] = rng.choice([-1.0, 1.0], 500)  # on the cube's faces
    surfaces = [sphere, box, 0.3 * sphere, box + [0.05, 0, 0], 0.35 * sphere]

    class Shapes:  # the one thing oracle_rows reads of a dataset
        def sdf(self, i):
            return {"surface_points": surfaces[i]}

    train = [0, 1, 2]
    assert oracle_rows(Shapes(), train, train, points=256).tolist() == [0, 1, 2]  # each its own nearest
    assert oracle_rows(Shapes(), [3, 4], train, points=256, device="cpu").tolist() == [1, 2]  # moved box, larger small sphere


def _deepsdf_release(tmp_path, cfg, seed: int):
    from sdfnets.deepsdf import release as deepsdf_release
    from sdfnets.deepsdf.model import make_decoder
    from sdfnets.io import save_checkpoint

    torch.manual_seed(seed)
    run = tmp_path / f"run{seed}"
    save_checkpoint(run / "final.pt", decoder=make_decoder(cfg.deepsdf).state_dict(), latents=torch.randn(2, 64),
                    config=cfg.to_dict(), indices=[0, 1], step=1)
    return deepsdf_release.export(run, tmp_path / "d.safetensors", uids=["a", "b"])


def test_quantization_and_release_round_trip(tmp_path):
    g = torch.Generator().manual_seed(0)
    for w in (torch.randn(64, 128, generator=g), torch.randn(32, 4, 3, 3, generator=g) * 0.1):  # a matrix, a kernel
        q, s = quantize(w)
        assert q.dtype == torch.int8 and q.shape == w.shape and s.shape == (w.shape[0],)
        # each row within half its step (and the float16 scale's rounding) of the original
        row_error = (dequantize(q, s) - w).abs().flatten(1).amax(1)
        assert (row_error <= s.float() * (0.5 + 127 * 2.0**-10)).all()
    cfg = config.resolve("smoke")
    dit = LatentDiT(64, 32, 48, 2, 4, 64)
    for p in dit.parameters():
        torch.nn.init.normal_(p, std=0.05)
    model = i2l_model.ImageToLatent(dit, Standardiser(torch.zeros(64), torch.tensor(0.5)), {**vars(cfg.image2latent)},
                                    "viewnet")
    enc = encoders.ViewNetEncoder(encoders.ViewNet(8, 32, 64), "k")
    deepsdf = _deepsdf_release(tmp_path, cfg, seed=0)
    path = release.export(model, enc, tmp_path / "r.safetensors", deepsdf=deepsdf)
    model2, enc2, meta = release.load(path)
    assert meta["deepsdf"] == "d.safetensors" and enc2.name == "viewnet"
    assert meta["deepsdf_config"]["hidden"] == cfg.deepsdf.hidden
    release.check_deepsdf(meta, deepsdf)  # the file it was exported against
    original = deepsdf.read_bytes()
    _deepsdf_release(tmp_path, cfg, seed=1)  # re-exported from another run: other latents, same name
    with pytest.raises(release.ReleaseMismatch, match="not the DeepSDF release"):
        release.check_deepsdf(meta, deepsdf)
    with pytest.raises(release.ReleaseMismatch, match="does not record"):
        release.check_deepsdf({**meta, "deepsdf_sha256": None}, deepsdf)
    with pytest.raises(FileNotFoundError):
        release.check_deepsdf(meta, tmp_path / "missing.safetensors")
    with pytest.raises(release.ReleaseMismatch, match="not the DeepSDF release"):  # the pair, loaded as one
        release.load_pair(path)
    deepsdf.write_bytes(original)  # the file it was exported against again
    model3, _, _, decoder, latents, dmeta = release.load_pair(path)
    assert latents.shape == (2, 64) and dmeta["uids"] == ["a", "b"] and model3.encoder == "viewnet"
    images = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    f1, f2 = enc.encode(images), enc2.encode(images)
    assert torch.nn.functional.cosine_similarity(f1, f2).min() > 0.999
    poses = torch.from_numpy(camera_poses(2)).float()[None]
    z1, z2 = model.sample(f1[None], poses, seed=1), model2.sample(f1[None], poses, seed=1)
    assert torch.nn.functional.cosine_similarity(z1, z2).item() > 0.99


def test_encoder_contrast_and_dinov2_loading(tmp_path, monkeypatch):
    a = torch.randn(8, 16)
    assert encoders.info_nce(a, a + 0.01, 0.1) < encoders.info_nce(a, torch.randn(8, 16), 0.1)
    from transformers import Dinov2Config, Dinov2Model

    tiny = Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                        image_size=224, patch_size=14)
    Dinov2Model(tiny).save_pretrained(tmp_path / "tiny-dinov2")
    enc = encoders.Dinov2Encoder(tmp_path / "tiny-dinov2")
    feats = enc.encode(np.full((3, 100, 120, 3), 200, np.uint8))
    assert enc.name == "dinov2-base" and feats.shape == (3, 32) and torch.isfinite(feats).all()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    with pytest.raises(encoders.EncoderUnavailable, match="huggingface-cli download"):
        encoders.Dinov2Encoder("facebook/dinov2-base")


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_image_inputs_are_prepared_like_the_renders(tmp_path, monkeypatch):
    rgba = Image.new("RGBA", (300, 100), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (100, 0, 200, 100))
    out = pipeline.load_image(_png(rgba))
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    assert tuple(out[5, 5]) == (255, 255, 255)  # letterbox: white
    assert tuple(out[112, 20]) == (255, 255, 255)  # transparent red: the white background
    assert out[112, 112, 2] > 200 and out[112, 112, 0] < 50  # the opaque blue part
    gray = pipeline.load_image(_png(Image.new("L", (50, 50), 128)))
    assert gray.shape == (224, 224, 3) and np.all(gray == 128)
    with pytest.raises(pipeline.InputError, match="not a readable image"):
        pipeline.load_image(b"\x89PNG\r\n\x1a\n corrupt", name="bad.png")
    (tmp_path / "x.png").write_bytes(b"hello")
    with pytest.raises(pipeline.InputError, match="x.png: not a readable image"):
        pipeline.load_image(tmp_path / "x.png")
    with pytest.raises(pipeline.InputError, match="no such file"):
        pipeline.load_image(tmp_path / "missing.png")
    monkeypatch.setattr(pipeline, "MAX_PIXELS", 1000)
    with pytest.raises(pipeline.InputError, match="too large"):
        pipeline.load_image(_png(Image.new("RGB", (100, 100))))
    monkeypatch.undo()
    monkeypatch.setattr(pipeline, "MAX_FILE_MB", 0.0001)
    with pytest.raises(pipeline.InputError, match="MB is too large"):
        pipeline.load_image(_png(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))))
    for n in (0, 9):
        with pytest.raises(pipeline.InputError, match="images|image"):
            pipeline.check_count(n)
    with pytest.raises(pipeline.InputError, match="AZIMUTH,ELEVATION"):
        pipeline.parse_pose("north")
    pose = cameras.camera_pose(90, 0)
    assert np.allclose(pose[:3, 3], [2.5, 0, 0], atol=1e-9)
    assert cameras.default_poses(3).shape == (3, 4, 4)


@pytest.mark.slow
@pytest.mark.skipif(not RELEASE.exists(), reason="no released image-to-mesh checkpoint")
def test_image2mesh_command_from_the_release(tmp_path):
    import trimesh

    from sdfnets.data import procedural, render

    mesh, _, _ = procedural.generate(0, resolution=64)
    Image.fromarray(render.thumbnails([mesh], 224)[0]).save(tmp_path / "chair.png")
    cmd = [sys.executable, "-m", "sdfnets", "image2mesh", str(tmp_path / "chair.png"), "-o", str(tmp_path / "out.glb"),
           "--resolution", "48", "--pose", "30,25", "--device", "cpu"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    out = trimesh.load(tmp_path / "out.glb", force="mesh")
    assert len(out.faces) > 100 and out.bounds[1].max() < 1.1
    bad = subprocess.run([sys.executable, "-m", "sdfnets", "image2mesh", *[str(tmp_path / "chair.png")] * 9, "-o",
                          str(tmp_path / "x.glb")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "at most 8" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "sdfnets", "image2mesh", str(tmp_path / "chair.png"), "-o",
                          str(tmp_path / "x.stl")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and ".glb, .obj or .ply" in bad.stderr
    meta = json.loads(json.dumps(release.load(RELEASE)[2]["metrics"]))
    assert meta["recall"]["shapes"] > 500


def test_guidance_and_pose_dropout_switches(tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_RUNS_DIR", str(tmp_path))
    cfg = config.resolve("smoke", image2latent={"steps": 100, "cond_dropout": 0.2, "pose_dropout": 0.2})
    g = torch.Generator().manual_seed(1)
    lat, feats = torch.randn(4, 64, generator=g), torch.randn(4, 8, 32, generator=g)
    poses = torch.from_numpy(camera_poses(8)).float()
    m = i2l.train_dit(cfg, lat, feats, poses, encoder="test", tag="cfg", progress=False)
    assert m.dit.null_view.abs().sum() > 0  # the "no image" token was trained
    f, p = feats[:2, :3], poses[None, :3].expand(2, -1, -1, -1)
    plain, guided = m.sample(f, p, seed=0), m.sample(f, p, seed=0, guidance=3.0)
    assert torch.isfinite(guided).all() and not torch.allclose(plain, guided)


def test_the_released_encoder_is_found_by_its_key():
    import json

    from safetensors import safe_open

    from sdfnets import paths

    path = paths.RELEASE_DIR / release.DEFAULT_NAME
    with safe_open(str(path), framework="pt") as f:
        key = json.loads(f.metadata()["encoder"])["key"]
    enc = encoders.released_encoder(key)
    assert enc.key == f"{key}-fp16" and enc.name == "viewnet"  # float16 weights: a key of its own
    assert encoders.released_encoder("no-such-key") is None


def test_onto_training_latents_moves_into_the_convex_hull():
    g = torch.Generator().manual_seed(0)
    bank = torch.randn(50, 6, generator=g)
    z = torch.randn(7, 6, generator=g) * 3
    assert torch.equal(i2l_model.onto_training_latents(z, bank, 8, 0.0), z)  # blend 0 keeps the sample
    near = torch.cdist(z, bank).argmin(1)
    assert torch.allclose(i2l_model.onto_training_latents(z, bank, 1, 1.0), bank[near])  # k = 1: retrieval
    avg = i2l_model.onto_training_latents(z, bank, 8, 1.0)
    idx = torch.cdist(z, bank).topk(8, largest=False).indices
    lo, hi = bank[idx].min(1).values, bank[idx].max(1).values
    assert ((avg >= lo - 1e-6) & (avg <= hi + 1e-6)).all()  # inside the neighbours' bounding box
    assert torch.cdist(avg, bank).min(1).values.mean() < torch.cdist(z, bank).min(1).values.mean()
    half = i2l_model.onto_training_latents(z, bank, 8, 0.5)
    assert torch.allclose(half, (z + avg) / 2, atol=1e-6)
    on_bank = i2l_model.onto_training_latents(bank[:3], bank, 8, 1.0)  # a training latent stays near itself
    assert (torch.cdist(on_bank, bank).argmin(1) == torch.arange(3)).all()


@pytest.mark.slow
def test_refinement_makes_the_release_agree_with_its_input_view():
    """The released decoder, refined on CPU against one rendered view: its silhouette agrees better
    with the input (a procedural chair the model never saw), and the CLI flag drives the same code."""
    from sdfnets.data import procedural, render
    from sdfnets.data.cameras import fov_for_unit_sphere
    from sdfnets.image2latent import refine as rf

    mesh, _, _ = procedural.generate(0, resolution=64)
    pose = cameras.camera_pose(30, 25)
    with render.Renderer(224) as r:
        r.set_mesh(mesh)
        img, _ = r.render(pose)
    pipe = pipeline.ImageToMesh(device="cpu")
    z = pipe.latent([img], pose[None])
    z2 = pipe.refine(z, [img], pose[None])
    views = rf.Views(np.stack([img]), pose[None], fov_for_unit_sphere(2.5), 32, 48, "cpu")
    before, after = float(views.iou(pipe.decoder, z)), float(views.iou(pipe.decoder, z2))
    assert after > before + 0.1, (before, after)
    said = []
    out = pipe([img], pose[None], resolution=32, refine=True, progress=lambda f, text: said.append((f, text)))
    assert "refine_s" in out.metadata["timings"] and len(out.faces) > 50
    steps = [t for _, t in said if t.startswith("refining the latent, step")]  # the bar moves with every step
    assert len(steps) == rf.CPU_CONFIG.steps and steps[-1].endswith(f"step {rf.CPU_CONFIG.steps} of {rf.CPU_CONFIG.steps}")
    assert [f for f, _ in said] == sorted(f for f, _ in said)
