"""The drift report of `make figures`: regenerated values against the ones they replace."""

import json

import pytest

from sdfnets import figures, paths

from sdfnets.repro import drift

from sdfnets.repro import execute as notebooks


def test_tolerances_by_kind_of_value():
    old = {"test": {"fscore": 0.50, "chamfer_l1": 0.010, "shapes": 32}, "train_seconds": 10.0,
           "history": [[1, 0.5]], "encoder": "viewnet", "other": 1.0}
    near = {"test": {"fscore": 0.52, "chamfer_l1": 0.011, "shapes": 32}, "train_seconds": 99.0,
            "history": [[1, 0.1]], "encoder": "viewnet", "other": 1.05}
    rows = drift.compare(old, near)
    assert all(r.ok for r in rows) and {r.key for r in rows} == {"test/fscore", "test/chamfer_l1", "test/shapes",
                                                                 "encoder", "other"}  # times and curves skipped
    far = {**near, "test": {"fscore": 0.45, "chamfer_l1": 0.013, "shapes": 31}, "encoder": "dinov2", "other": 1.2}
    bad = {r.key for r in drift.compare(old, far) if not r.ok}
    assert bad == {"test/fscore", "test/chamfer_l1", "test/shapes", "encoder", "other"}
    assert not drift.compare({"a": 1.0}, {})[0].ok  # a value that disappeared
    assert drift.compare({"x": float("nan")}, {"x": float("nan")})[0].ok
    pilot = drift.compare({"loss_ema": {"pilot": 1.5e-5, "full": 6e-3}}, {"loss_ema": {"pilot": 1.7e-3, "full": 9e-3}})
    assert [(r.key, r.ok) for r in pilot] == [("loss_ema/full", False)]  # the pilot's last loss point is noise
    assert "1 of 2 values within tolerance" in drift.report("nb", drift.compare({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 9.0}))


@pytest.mark.slow
def test_a_regenerated_notebook_is_compared_with_its_previous_values():
    from sdfnets.repro.measured import measured

    nb = next(p for p in notebooks.list_notebooks("00"))
    measured(nb.stem, "smoke", "probe", lambda: 1.0)  # as if an earlier run had been cut short
    kept = paths.build_dir() / "measured" / "smoke" / f"{nb.stem}.json"
    assert kept.exists()
    assert [r.status for r in notebooks.run_all("smoke", only="00", force=True, echo=lambda *_: None)] == ["ran"]
    assert not kept.exists()  # a notebook that finished forgets what it kept for a resumed run
    path = paths.values_path(nb.stem, "smoke")
    rec = json.loads(path.read_text())
    key = next(k for k, v in rec["values"].items() if isinstance(v, float))
    rec["values"][key] = rec["values"][key] * 3 + 1  # pretend the committed number was another
    path.write_text(json.dumps(rec))
    said = []
    res = notebooks.run_all("smoke", only="00", force=True, echo=said.append)
    assert res[0].drifted >= 1 and any(key in s and "committed" in s for s in said)
    again = notebooks.run_all("smoke", only="00", force=True, echo=lambda *_: None)
    assert again[0].drifted == 0  # the same commit, run twice: within tolerance
    assert figures.load_values(nb.stem, "smoke")["values"]


@pytest.mark.slow
def test_a_training_notebook_rerun_from_scratch_gives_identical_values(monkeypatch, tmp_path):
    """Determinism on CPU: notebook 02 (anchor decoders, training from scratch) run twice, each with
    an empty runs folder, records the same numbers bit for bit (wall times aside)."""
    records = []
    for i in (1, 2):
        monkeypatch.setenv("SDFNETS_RUNS_DIR", str(tmp_path / f"runs{i}"))
        monkeypatch.setenv("SDFNETS_FIGURES_DIR", str(tmp_path / f"figures{i}"))
        res = notebooks.run_all("smoke", only="02", force=True, echo=lambda *_: None, engine="script")
        assert [r.status for r in res] == ["ran"] and any((tmp_path / f"runs{i}").iterdir())
        records.append(figures.load_values("02_anchor_decoders", "smoke")["values"])
    a, b = (dict(drift._leaves(r)) for r in records)
    assert a.keys() == b.keys()
    compared = [k for k in a if drift.rule_for(k) is not None]  # times and curves aside
    assert len(compared) > 10 and not [k for k in compared if a[k] != b[k] and a[k] == a[k]], \
        [(k, a[k], b[k]) for k in compared if a[k] != b[k]]
