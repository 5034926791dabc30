"""Every notebook: paired with its reviewed py:percent copy, clean, and executed at smoke scale."""

import ast
import json
import sys

import jupytext
import nbformat
import pytest

from sdfnets import figures, paths

from sdfnets.repro import execute as notebooks

NOTEBOOKS = notebooks.list_notebooks()
IDS = [p.stem for p in NOTEBOOKS]


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_notebooks():
    assert "00_data_foundation" in IDS


@pytest.mark.parametrize("src", NOTEBOOKS, ids=IDS)
def test_ipynb_is_in_step_and_clean(src):
    ipynb = src.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} missing: run `make sync`"
    stored = nbformat.read(ipynb, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in _code(stored))
    from_py = jupytext.read(src)
    assert [(c.cell_type, c.source) for c in stored.cells] == [(c.cell_type, c.source) for c in from_py.cells], \
        f"{ipynb.name} differs from {src.name}: run `make sync`"


@pytest.mark.parametrize("src", NOTEBOOKS, ids=IDS)
def test_conventions(src):
    nb = jupytext.read(src)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {src.stem[:2]} ")
    assert "**Reads:**" in first.source and "**Writes:**" in first.source
    params = [c for c in _code(nb) if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged `parameters`"
    for node in ast.parse(params[0].source).body:  # literals only: papermill must reach everything
        assert isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant), ast.unparse(node)
    assert "SCALE" in params[0].source
    text = "\n".join(c.source for c in _code(nb))
    assert "nn.Module" not in text and "../" not in text and ".savefig(" not in text
    assert "record_values" in text
    from sdfnets.repro.report import _figures_of

    uncaptioned = [name for c in _code(nb) for name, caption in _figures_of(c.source) if not caption]
    assert not uncaptioned, f"a `# caption:` line above the call that saves {uncaptioned} (the report prints it)"


# The write-up's numbers live in sdfnets.thesis; a phase notebook quotes them from there, in cells
# tagged `finding` that put ours beside them.
THESIS_LITERALS = ("0.00185", "0.00409", "0.00051", "0.00090", "0.00212", "0.00593", "0.00613", "8e-6", "5.1e-3",
                   "54_785", "0.96\"", "0.17", "0.34")


@pytest.mark.parametrize("src", [p for p in NOTEBOOKS if p.stem[:2] >= "02"], ids=[i for i in IDS if i[:2] >= "02"])
def test_findings_quote_the_thesis_module(src):
    nb = jupytext.read(src)
    findings = [c for c in _code(nb) if "finding" in c.metadata.get("tags", [])]
    assert findings, "a phase notebook closes its sections with cells tagged `finding`"
    assert all("thesis.finding(" in c.source for c in findings)
    text = "\n".join(c.source for c in _code(nb))
    assert not [lit for lit in THESIS_LITERALS if lit in text], "thesis numbers belong in sdfnets.thesis"


# Notebooks that read other notebooks' recorded values.
REQUIRES = {"13_weight_vs_latent": "07,08,09,10,11,12"}

# Smoke-scale expectations for the numbers each notebook records.
EXPECT = {
    "00_data_foundation": lambda v, rec: (
        rec["num_shapes"] == 8 and v["num_failed"] == 0 and v["num_categories"] == 8
        and v["sign_gap_max"] < 0.03 and abs(v["uniform_inside_share"] - v["volume_share"]) < 0.01
        and 0.05 < v["render_foreground_share"] < 0.6 and v["num_views"] == 8),
    "01_real_corpus": lambda v, rec: (
        v["pack_shapes"] >= 500 and v["pack_failed"] >= 1 and v["all_watertight"] and v["offset_p95_max"] < 0.05
        and v["splits"]["ood"] > 0 and v["splits"]["train"] > v["splits"]["test"] > 0 and v["pack_mib"] <= 20
        # the demo library: a soup and an open mesh convert; a lamp in pieces and a two-part model fail
        and v["live_conversions"] == 4 and v["live_conversions_passed"] == 2),
    "02_anchor_decoders": lambda v, rec: (
        v["parameters"] == {"relu_pe": 54_785, "siren": 50_177} and v["anchor"]["category"] == "table"
        and all(v[f]["sdf_l1"] < 0.01 and v[f]["fscore"] > 0.5 for f in ("relu_pe", "siren"))),
    "03_siren_warm_start": lambda v, rec: (
        v["shapes"] == 6 and v["pairs"] == 2
        # a shared warm start keeps weight interpolation close to field interpolation; random starts do not
        and v["interpolation"]["SIREN, anchor start"]["deviation_mid"]
        < 0.5 * v["interpolation"]["SIREN, random starts"]["deviation_mid"]
        and v["interpolation"]["SIREN, random + weight matching"]["deviation_mid"]
        < v["interpolation"]["SIREN, random starts"]["deviation_mid"]
        and v["perturbation"]["collapse_sigma"]["ReLU+PE"] > v["perturbation"]["collapse_sigma"]["SIREN"]),
    "04_relu_weight_dataset": lambda v, rec: (
        v["networks"] == 8 and v["parameters"] == 54_785 and v["offsets"]["out.bias"] == [54_784, 54_785]
        and v["sdf_l1_median"] < 0.05 and v["gallery"]["fscore"] > 0.3),
    "05_cosine_shell": lambda v, rec: (
        v["networks"] == 8 and v["anchor start"]["pairwise_cosine"] > 0.9
        and abs(v["random starts"]["pairwise_cosine"]) < 0.1
        and v["anchor start"]["low_std_dims"] > v["random starts"]["low_std_dims"]),
    "06_weight_dit_unconditional": lambda v, rec: (
        v["tokens"] == 8 and v["split"][-1][1] == 54_785 and v["token_entries"] % 8 == 0 and v["samples"] == 4
        and 0 <= v["generation"]["1nna"] <= 1 and 0 < v["generation"]["cov"] <= 1 and v["generation"]["mmd"] > 0
        # a copier of training shapes sits at distance 0 from the training set; the model's samples do not
        and v["copier"]["nearest_train_ratio"] < 1e-3 < v["generation"]["nearest_train_ratio"]),
    "07_weight_dit_single_view": lambda v, rec: (
        v["phase5"]["family"] == "siren" and v["phase5"]["dims"] == 50_177 and v["phase6"]["dims"] == 54_785
        and all(v[p]["split"][-1][1] == v[p]["dims"] and -1 <= v[p]["vectors"]["cos_true_mean"] <= 1
                and v[p]["mesh"]["retrieval"]["empty_meshes"] == 0 and v[p]["nudge"]["moved_mean"] >= 0
                and v[p]["draws"] for p in ("phase5", "phase6"))),
    "08_weight_dit_multiview": lambda v, rec: (
        v["views"] == [1, 8] and v["eval_views"] == 4 and set(v["by_views"]) <= {"1", "2", "4", "8"}
        and len(v["loss_profile"]["timesteps"]) == len(v["loss_profile"]["weight DiT (phase 7)"])
        # the flat profile even at smoke scale: near t = 0 the latent DiT reproduces its input, the weight DiT not
        and v["loss_profile"]["latent DiT (phase 12)"][0] < 0.2 * v["loss_profile"]["weight DiT (phase 7)"][0]
        and v["write_up"]["nudge"]["moved_mean"] >= 0 and v["write_up"]["draws"]),
    "09_weight_dit_ablations": lambda v, rec: (
        v["phase7"]["standardise"] == "per_dim" and v["phase8"]["standardise"] == "global"
        and v["phase9"]["cond_dropout"] == v["phase9"]["pose_dropout"] == 0 < v["phase7"]["cond_dropout"]
        and v["low_std_dims"] > 0
        and all(len(v["loss_profile"][p]) == len(v["loss_profile"]["timesteps"]) for p in ("phase7", "phase8", "phase9"))
        and all(0 <= v[p]["residual"]["closer_share"] <= 1 for p in ("phase7", "phase8", "phase9"))),
    "10_weight_autoencoder": lambda v, rec: (
        set(v["autoencoders"]) == {"weight MSE, 16 dims", "weight MSE, 32 dims", "function (SDF), 16 dims"}
        # the trap at smoke scale: held-out weights reconstructed to cos > 0.95, their shapes broken
        and v["trap"]["weight MSE, 16 dims | held-out"]["cos"] > 0.95
        and v["trap"]["weight MSE, 16 dims | held-out"]["fscore"] < 0.5 * v["trap"]["true decoders | held-out"]["fscore"]
        # an error along the AE's own error direction costs more than a random one of the same cosine
        and v["cosine_sweep"]["the AE's error direction"][4][1] > v["cosine_sweep"]["random direction"][4][1]
        and v["trap"]["function (SDF), 16 dims | training"]["sdf_l1"] < 2 * v["trap"]["true decoders | training"]["sdf_l1"]
        and abs(sum(v["error_share"]["weight MSE, 16 dims"].values()) - 1) < 1e-6
        and set(v["latent_diffusion"]) == {"weight MSE, 16 dims", "function (SDF), 16 dims"}),
    "13_weight_vs_latent": lambda v, rec: (
        len(v["table"]) == 7 and v["table"]["phase 7: weight DiT, K views"]["dims"] == 54_785
        and v["table"]["phase 12: latent DiT"]["dims"] == 64
        # the structural contrast, read back from notebooks 08 and 12
        and v["table"]["phase 12: latent DiT"]["loss_t0"] < 0.2 * v["table"]["phase 7: weight DiT, K views"]["loss_t0"]),
    "14_hypernetwork_vae": lambda v, rec: (
        v["train_shapes"] == 6 and v["samples"] == 4 and v["hypernet_parameters"] > 0
        and v["reconstruction"]["hypernetwork"]["sdf_l1_mean"] < 0.1 and 0 <= v["generation"]["1nna"] <= 1
        and v["copier"]["nearest_train_ratio"] < 1e-3 < v["generation"]["nearest_train_ratio"]
        and set(v["shell"]) == {"hypernetwork", "per-shape decoders (phase 1)"}),
    "15_deepsdf_scaling": lambda v, rec: (
        v["sizes"] == [2, 6] and v["test_shapes"] == 1 and v["ood_shapes"] == 1
        and v["by_n"]["2"]["recall_top1"] == 1.0  # two shapes: the DiT tells them apart
        and all(0 < r["sdf_l1_mean"] <= r["sdf_l1_max"] and r["test"]["diffusion"]["empty_meshes"] == 0
                for r in v["by_n"].values())),
    "16_image_to_mesh_generalisation": lambda v, rec: (
        v["held_out_shapes"] == 1 and v["ood_shapes"] == 1 and v["pipeline"] == "runs of this scale"
        and len(v["methods"]) == 33 and 0 <= v["pose_search_median_degrees"] <= 180
        and {"oracle retrieval", "fitted to SDF samples", "refined, 4 views, known poses", "best of 2, 4 views, known poses",
             "refined, 1 view, default poses", "pixel-aligned, 1 view, default poses",
             "visual hull, 4 views, known poses", "DiT inside the hull, 4 views, known poses",
             "pixel-aligned, 4 views, known poses", "pixel-aligned, 4 views, default poses",
             "pixel-aligned, views alone, 4 views, known poses"} <= set(v["methods"])
        and all(0 <= m["fscore"] <= 1 and 0 <= m["holds_together"] <= 1 for m in v["methods"].values())
        and set(v["ood"]) == {"diffusion", "refined", "retrieval", "oracle retrieval", "visual hull", "pixel-aligned",
                              "pixel-aligned, views alone"}),
    "17_weight_collapse_dose": lambda v, rec: (
        v["lr_factors"] == [1.0, 0.25, 0.0625, 0.015625] and len(v["doses"]) == 4
        # the dose works as designed: a smaller fitting step, a thinner shell (higher cosine), more still dimensions
        # and a worse fit
        and all(a["pairwise_cosine"] < b["pairwise_cosine"] and a["sdf_l1_median"] < b["sdf_l1_median"]
                and a["low_std_dims"] <= b["low_std_dims"]
                for doses in [sorted(v["doses"].values(), key=lambda d: -d["factor"])]  # largest step first
                for a, b in zip(doses, doses[1:]))
        and all(d["steps"] == v["dit_steps"] and d["loss_t0"] > 0 and 0 <= d["vectors"]["closer_share"] <= 1
                and d["draws"] for d in v["doses"].values())),
    "12_image_to_latent": lambda v, rec: (
        v["encoder"] == "viewnet" and v["recall"]["pilot"]["top1"] == 1.0 and v["recall"]["full"]["top1"] >= 0.8
        and v["recall"]["full"]["cos_mean"] > 0.95 and v["test"]["shapes"] == 1 and v["ood"]["full"]["shapes"] == 1
        and v["test"]["diffusion"]["empty_meshes"] == 0 and v["release_cosine_mean"] > 0.99),
    "11_deepsdf": lambda v, rec: (
        v["decoder_parameters"] == 25_793 and v["full"]["shapes"] == 6  # 8 shapes less one test, one vase (OOD)
        and v["test_reconstruction"]["shapes"] == 1
        # the pilot's point: more capacity, better fit and better meshes
        and v["pilot"]["large"]["sdf_l1_mean"] < v["pilot"]["small"]["sdf_l1_mean"]
        and v["pilot"]["large"]["chamfer_l1"] < v["pilot"]["small"]["chamfer_l1"]
        and v["full"]["empty_meshes"] == 0 and 0 < v["full"]["fscore"] <= 1),
}


@pytest.mark.slow
@pytest.mark.parametrize("src", NOTEBOOKS, ids=IDS)
def test_notebook_runs_at_smoke_scale(src):
    if src.stem in REQUIRES:  # notebooks that read others' values: those first (already fresh in a full run)
        assert all(r.status in ("ran", "fresh") for r in notebooks.run_all("smoke", only=REQUIRES[src.stem],
                                                                           echo=lambda *_: None))
    results = notebooks.run_all("smoke", only=src.stem, force=True, echo=lambda *_: None)
    assert [r.status for r in results] == ["ran"], results[0].error
    cells = results[0].cells  # its slowest cells, timed from papermill's durations
    assert 0 < len(cells) <= notebooks.SLOWEST and all(c["seconds"] >= 0 and c["code"] for c in cells)
    rec = figures.load_values(src.stem, "smoke")
    assert rec["scale"] == "smoke" and rec["notebook"] == src.stem
    assert src.stem in EXPECT, f"add smoke expectations for {src.stem}"
    assert EXPECT[src.stem](rec["values"], rec), json.dumps(rec, indent=1)
    assert any(paths.figure_path(src.stem, "x", "smoke", "png").parent.glob("*.png"))
    # an unchanged notebook is not rerun
    assert [r.status for r in notebooks.run_all("smoke", only=src.stem, echo=lambda *_: None)] == ["fresh"]


def test_failing_notebook_is_reported_with_its_cell(tmp_path, monkeypatch):
    bad = tmp_path / "98_broken.py"
    bad.write_text('# %% [markdown]\n# # 98 broken\n\n# %% tags=["parameters"]\nSCALE = "smoke"\n\n'
                   '# %%\nx = 1\n\n# %%\nraise RuntimeError("boom")\n')
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", tmp_path)
    results = notebooks.run_all("smoke", echo=lambda *_: None)
    assert results[0].status == "failed"
    assert "98_broken" in results[0].error and "cell" in results[0].error and "boom" in results[0].error
    # the half-run copy is kept apart for reading; no executed copy claims a finished run
    assert notebooks.partial_path("98_broken", "smoke").exists()
    assert not paths.executed_notebook_path("98_broken", "smoke").exists()


def test_script_engine_runs_without_a_kernel(tmp_path, monkeypatch):
    nb = tmp_path / "97_script.py"
    nb.write_text('# %% [markdown]\n# # 97 script\n\n# %% tags=["parameters"]\nSCALE = "smoke"\nN = 2\n\n'
                  '# %%\nfrom sdfnets import figures\n'
                  'figures.record_values("97_script", {"n": N, "scale_seen": SCALE}, scale=SCALE, corpus="none", '
                  'num_shapes=0)\n\n# %%\nif N > 5:\n    raise ValueError("late")\n\n'
                  '# %%\n# the slow cell\nimport time\ntime.sleep(0.3)\n')
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", tmp_path)
    for mod in ("papermill", "papermill.exceptions"):  # GPU nodes may have neither kernel nor papermill
        monkeypatch.setitem(sys.modules, mod, None)
    res = notebooks.run_all("cpu", engine="script", echo=lambda *_: None)
    assert res[0].status == "ran"
    assert figures.load_values("97_script", "cpu")["values"] == {"n": 2, "scale_seen": "cpu"}
    timed = json.loads(notebooks.timings_path("cpu").read_text())  # what `make figures` took, per notebook
    assert timed["notebooks"]["97_script"]["status"] == "ran" and timed["from_scratch"]
    assert timed["total_seconds"] == pytest.approx(res[0].seconds, abs=0.1) and timed["scale"] == "cpu"
    slowest = timed["notebooks"]["97_script"]["slowest_cells"]  # where the time went, slowest first
    assert slowest[0]["cell"] == 4 and slowest[0]["code"] == "import time" and slowest[0]["seconds"] >= 0.3
    assert [c["cell"] for c in slowest] == [c["cell"] for c in sorted(slowest, key=lambda c: -c["seconds"])]
    assert {c["cell"] for c in slowest} == {1, 2, 3, 4}
    assert notebooks.run_all("cpu", engine="script", echo=lambda *_: None)[0].status == "fresh"
    timed = json.loads(notebooks.timings_path("cpu").read_text())
    assert timed["notebooks"]["97_script"] == {"status": "fresh", "seconds": 0.0, "drifted": 0}
    assert not timed["from_scratch"]
    notebooks.run_all("cpu", only="97", force=True, engine="script", echo=lambda *_: None)  # a chosen subset
    timed = json.loads(notebooks.timings_path("cpu").read_text())
    assert timed["only"] == "97" and timed["notebooks"]["97_script"]["status"] == "ran" and not timed["from_scratch"]
    res = notebooks.run_all("cpu", engine="script", force=True, parameters={"N": 9}, echo=lambda *_: None)
    assert res[0].status == "failed" and "cell 3" in res[0].error and "late" in res[0].error


def test_notebook_kernels_talk_over_ipc_not_tcp():
    """No TCP port is opened for a headless run (and ipykernel's unencrypted-TCP warning is moot)."""
    assert notebooks._ipc_kernel_manager()(kernel_name="python3").transport == "ipc"


def test_kernels_started_at_once_in_one_folder_each_answer_on_their_own_sockets(tmp_path, monkeypatch):
    """Notebooks run side by side (two test workers, or two `make figures` in one checkout) start kernels at once
    in one working directory. Each must get sockets of its own: with jupyter_client's default
    (``kernel-ipc-1`` ... in the working directory) both took the same ones and one notebook waited forever
    for a kernel that dropped its requests as signed with another key."""
    import asyncio
    import os

    monkeypatch.chdir(tmp_path)

    async def start_both_and_ask_each():
        kms = [notebooks._ipc_kernel_manager()(kernel_name="python3") for _ in range(2)]
        await asyncio.gather(*(km.start_kernel() for km in kms))  # neither has bound its sockets yet
        answers = []
        try:
            for km in kms:
                client = km.client()
                client.start_channels()
                try:
                    await client.wait_for_ready(timeout=60)
                    said = []
                    await client.execute_interactive("import os; print(os.getpid())", timeout=60,
                                                     output_hook=lambda m: said.append(m["content"].get("text", "")))
                    answers.append((km.provisioner.pid, "".join(said).strip()))
                finally:
                    client.stop_channels()
        finally:
            await asyncio.gather(*(km.shutdown_kernel(now=True) for km in kms))
        return [km.ip for km in kms], answers

    ips, answers = asyncio.run(start_both_and_ask_each())
    assert ips[0] != ips[1] and all(os.path.isabs(ip) for ip in ips)
    assert [said for _, said in answers] == [str(pid) for pid, _ in answers]  # each kernel answered its own client
    assert not any(os.path.exists(os.path.dirname(ip)) for ip in ips)  # the socket folders went with the kernels
    assert not list(tmp_path.iterdir())  # nothing left in the working directory


def test_the_notebook_lock_is_reentrant(tmp_path):
    with notebooks.exclusive(tmp_path / "r"):
        with notebooks.exclusive(tmp_path / "r"):  # the same process asking again does not deadlock
            pass
        assert str(tmp_path / "r") + ".lock" in notebooks._HELD
    assert not notebooks._HELD


def test_a_notebook_another_process_is_running_waits_for_it(tmp_path, monkeypatch):
    """Two processes asked for the same notebook at the same scale (two `make figures`, or test workers side
    by side) run it one after the other: the second waits for the first's lock instead of writing over the
    same executed copy and figures beside it."""
    import subprocess

    nb, asked, released = tmp_path / "97_waits.py", tmp_path / "asked", tmp_path / "released"
    nb.write_text('# %% [markdown]\n# # 97 waits\n\n# %% tags=["parameters"]\nSCALE = "smoke"\nMARK = ""\n\n'
                  '# %%\nimport pathlib\nassert pathlib.Path(MARK).exists(), "ran while the other process held it"\n')
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", tmp_path)
    # the holder lets go only once this process has said it waits (or after 60 s): no race on timing
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from sdfnets.repro.execute import exclusive\n"
         "with exclusive(Path(sys.argv[1])):\n    print('held', flush=True); end = time.time() + 60\n"
         "    while not Path(sys.argv[2]).exists() and time.time() < end: time.sleep(0.02)\n"
         "    Path(sys.argv[3]).touch()",
         str(paths.executed_notebook_path("97_waits", "smoke")), str(asked), str(released)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        said = []

        def echo(line):
            said.append(line)
            asked.touch()

        results = notebooks.run_all("smoke", parameters={"MARK": str(released)}, echo=echo, engine="script")
        assert [r.status for r in results] == ["ran"], results[0].error  # it ran after the holder had finished
        assert said[0].startswith("waiting for another process working on") and "97_waits" in said[0]
    finally:
        holder.kill()
        holder.wait()
