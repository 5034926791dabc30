import pytest

from sdfnets import config, paths


def test_scales_resolve_with_growing_sizes():
    smoke, cpu, full = (config.resolve(s) for s in config.SCALES)
    assert smoke.data.num_shapes < cpu.data.num_shapes < full.data.num_shapes
    assert full.data.num_points == 200_000 and full.data.num_views == 64 and full.data.image_size == 224
    assert full.data.camera_distance == 2.5


def test_overrides_and_errors():
    cfg = config.resolve("smoke", seed=3, data={"num_shapes": 5})
    assert cfg.data.num_shapes == 5 and cfg.data.seed == 3 and cfg.seed == 3
    with pytest.raises(ValueError, match="unknown scale"):
        config.resolve("huge")
    with pytest.raises(ValueError, match="unknown data setting"):
        config.resolve("smoke", data={"num_shapez": 5})
    with pytest.raises(ValueError, match="unknown config section"):
        config.resolve("smoke", model={})


def test_whole_numbers_for_float_settings_name_the_same_run():
    from sdfnets.multiview import pixeltrain

    a, b = (config.resolve("full", pixel={"pose_jitter": j}).pixel for j in (5, 5.0))
    assert a == b and isinstance(a.pose_jitter, float) and isinstance(a.steps, int)
    assert pixeltrain.run_settings(a) == pixeltrain.run_settings(b)
    assert repr(pixeltrain.run_settings(a)) == repr(pixeltrain.run_settings(b))  # the JSON a run's key hashes


def test_content_hash_ignores_count_but_not_sampling():
    a = config.resolve("smoke").data
    b = config.resolve("smoke", data={"num_shapes": 99}).data
    c = config.resolve("smoke", data={"num_points": 999}).data
    assert a.content_hash() == b.content_hash() != c.content_hash()


def test_paths_follow_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_FIGURES_DIR", str(tmp_path))
    assert paths.values_path("00_x", "cpu") == tmp_path / "values" / "00_x.cpu.json"
    assert paths.figure_path("00_x", "g", "cpu", "png") == tmp_path / "cpu" / "00_x" / "g.png"
    assert paths.dataset_dir("folder:/a/b", 3, "abc").name == "n3-abc"


def test_run_keys_hold_training_settings_only():
    """An evaluation setting changes what is measured, not the trained run: the key stays; a training
    setting makes another run."""
    import dataclasses

    from sdfnets.config import run_settings
    from sdfnets.train import run_key

    dc = config.resolve("smoke").image2latent
    key = run_key(run_settings(dc))
    assert run_key(run_settings(dataclasses.replace(dc, mesh_resolution=64, eval_views=8, guidance=2.0))) == key
    assert run_key(run_settings(dataclasses.replace(dc, steps=dc.steps + 1))) != key
    assert "mesh_resolution" not in run_settings(dc) and "d_model" in run_settings(dc)
    assert {"kernels", "cuda_graph"}.isdisjoint(run_settings(config.resolve("full").deepsdf))


def test_every_section_is_resolved_with_its_preset():
    cfg = config.resolve("smoke", refine={"steps": 7})
    assert cfg.refine.steps == 7 and cfg.refine.res == 12  # an override on top of the smoke preset
    assert cfg.encoder.dim == 32 and cfg.corpus_views.raw_libraries == "demo"
    assert config.resolve("full").export_release and not cfg.export_release


def test_dose_names_are_the_keys_of_notebook_17s_values():
    assert [config.dose_name(f) for f in (4.0, 1.0, 0.25, 0.0625)] == ["lr × 4", "lr × 1", "lr ÷ 4", "lr ÷ 16"]
