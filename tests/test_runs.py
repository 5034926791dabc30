"""The one trainer loop: load-or-train, resume equals an uninterrupted run, checkpoints refuse code."""

import json
import pickle
from pathlib import Path

import pytest
import torch

from sdfnets import runs
from sdfnets.io import load_checkpoint, save_checkpoint


class Quadratic:
    """A toy trainer of the runs protocol: Adam on a vector towards a target, with noisy steps."""

    def __init__(self, total: int = 37):
        self.device = torch.device("cpu")
        self.x = torch.nn.Parameter(torch.zeros(5))
        self.opt = torch.optim.Adam([self.x], lr=0.1)
        self.gen = torch.Generator().manual_seed(0)
        self.step, self.total, self.sum, self.since = 0, total, 0.0, 0

    def run(self, n):
        for _ in range(n):
            runs.set_lr(self.opt, [0.1 * runs.cosine(self.step, self.total)])
            loss = (self.x - 1 - 0.1 * torch.randn(5, generator=self.gen)).pow(2).sum()
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            self.sum += float(loss)
            self.step += 1
        self.since += n

    def loss(self):
        v, self.sum, self.since = self.sum / max(self.since, 1), 0.0, 0
        return v

    def state(self):
        return {"x": self.x.detach().clone(), "optimizer": self.opt.state_dict(), "generator": self.gen.get_state(),
                "step": self.step}

    def load_state(self, ck):
        with torch.no_grad():
            self.x.copy_(ck["x"])
        self.opt.load_state_dict(ck["optimizer"])
        self.gen.set_state(ck["generator"])
        self.step = ck["step"]


def test_resumed_run_equals_uninterrupted_and_finished_run_loads(tmp_path):
    whole = runs.load_or_train(Quadratic, tmp_path / "a", desc="a", log_every=5, checkpoint_every=10,
                               progress=False, extra={"config": {"lr": 0.1}})
    stopped = runs.load_or_train(Quadratic, tmp_path / "b", desc="b", log_every=5, checkpoint_every=10,
                                 max_steps=12, progress=False)
    assert not stopped.finished and (tmp_path / "b" / "last.pt").exists() and stopped.steps == 12
    resumed = runs.load_or_train(Quadratic, tmp_path / "b", desc="b", log_every=5, checkpoint_every=10, progress=False)
    assert resumed.finished and resumed.resumed_from == 12 and not (tmp_path / "b" / "last.pt").exists()
    assert torch.equal(whole.state["x"], resumed.state["x"])
    assert [s for s, _ in whole.history] == [5, 10, 15, 20, 25, 30, 35, 37]
    assert [s for s, _ in resumed.history] == [5, 10, 12, 15, 20, 25, 30, 35, 37]  # the interruption is logged
    assert "optimizer" not in whole.state  # a finished run keeps no optimiser state
    built = []
    again = runs.load_or_train(lambda: built.append(1) or Quadratic(), tmp_path / "a", desc="a", progress=False)
    assert not built and torch.equal(again.state["x"], whole.state["x"]) and again.state["config"] == {"lr": 0.1}
    assert again.history == whole.history


def test_keep_final_false_and_no_run_dir(tmp_path):
    r = runs.load_or_train(Quadratic, tmp_path, desc="c", keep_final=False, progress=False)
    assert r.finished and not any(tmp_path.iterdir())
    assert runs.load_or_train(Quadratic, None, desc="d", progress=False).steps == 37


def test_run_keys_and_schedules():
    assert runs.run_key({"a": 1, "b": [1, 2]}) == runs.run_key({"b": [1, 2], "a": 1}) != runs.run_key({"a": 2})
    assert runs.cosine(0, 100) == pytest.approx(1.0) and runs.cosine(100, 100) == pytest.approx(0.05)
    assert runs.linear_warmup(0, 10) == pytest.approx(0.1) and runs.linear_warmup(50, 10) == 1.0
    assert runs.default_device("cpu").type == "cpu"


class _Payload:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_checkpoints_never_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_checkpoint(tmp_path / "ok.pt", x=torch.ones(2), history=[(1, 0.5)], config={"a": (1, 2)})
    assert load_checkpoint(tmp_path / "ok.pt")["history"] == [(1, 0.5)]
    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"x": _Payload()}))
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "PWNED").exists()


def test_cached_result_computes_once_per_key(tmp_path, monkeypatch):
    from sdfnets import runs

    monkeypatch.setenv("SDFNETS_RUNS_DIR", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"f": 0.5, "n": 3}

    assert runs.cached_result("k", "d", {"n": 1}, compute) == {"f": 0.5, "n": 3}
    assert runs.cached_result("k", "d", {"n": 1}, compute) == {"f": 0.5, "n": 3} and len(calls) == 1
    runs.cached_result("k", "d", {"n": 2}, compute)
    assert len(calls) == 2  # another key, another result


def test_generalisation_results_kept_per_method_and_pipeline(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from sdfnets import config
    from sdfnets.image2latent import generalise as gen

    monkeypatch.setenv("SDFNETS_RUNS_DIR", str(tmp_path))
    cfg, ds = config.resolve("smoke"), SimpleNamespace(root=tmp_path / "data")
    release = gen.Parts(None, None, None, None, "release x.safetensors", "aaaa")
    calls = []

    def compute():
        calls.append(1)
        return {"fscore": 0.25 * len(calls)}

    assert gen.kept(cfg, ds, release, "diffusion, 4 views", compute) == {"fscore": 0.25}
    assert gen.kept(cfg, ds, release, "diffusion, 4 views", compute) == {"fscore": 0.25}  # resumed, not recomputed
    assert gen.kept(cfg, ds, release, "refined, 4 views", compute) == {"fscore": 0.5}  # another method
    other = gen.Parts(None, None, None, None, "release x.safetensors", "bbbb")  # same name, other file
    assert gen.kept(cfg, ds, other, "diffusion, 4 views", compute) == {"fscore": 0.75} and len(calls) == 3


_COUNTER = '''
import sys, time
from pathlib import Path
import torch
from sdfnets import runs


class Counter:
    """A trainer whose state counts the steps it took; ``pause(n)`` is what n steps cost."""
    total = 8

    def __init__(self):
        self.device, self.step, self.x = torch.device("cpu"), 0, torch.zeros(3)

    def pause(self, n):
        pass

    def run(self, n):
        self.pause(n)
        self.x += n
        self.step += n

    def loss(self):
        return float(self.x.sum())

    def state(self):
        return {"x": self.x.clone(), "step": self.step}

    def load_state(self, ck):
        self.x, self.step = ck["x"], ck["step"]
'''

_TWO_PROCESSES = _COUNTER + '''
run_dir, log = Path(sys.argv[1]), Path(sys.argv[2])


class Slow(Counter):
    def __init__(self):
        with open(log, "a") as f:
            f.write("built\\n")
        super().__init__()

    def pause(self, n):
        t0 = time.time()  # training goes on once the second process is waiting (or after 60 s: no hang)
        while not (log.parent / "go").exists() and time.time() - t0 < 60:
            time.sleep(0.02)
        time.sleep(0.25 * n)


r = runs.load_or_train(Slow, run_dir, desc="slow", log_every=2, progress=False)
print("result", float(r.state["x"].sum()), "waited", runs.WAITED["seconds"] > 0)
'''


def test_two_processes_sharing_a_run_folder_train_it_once(tmp_path):
    """Notebooks running side by side on one node (one GPU each) share checkpoints/runs: while one
    process trains a run, a second asking for it waits and loads the result instead of training it
    again beside it (and writing over its checkpoints)."""
    import subprocess
    import sys
    import time

    script, log = tmp_path / "train.py", tmp_path / "built.txt"
    script.write_text(_TWO_PROCESSES)
    args = [sys.executable, "-u", str(script), str(tmp_path / "run"), str(log)]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not log.exists():  # the first process holds the run and is training (held until "go")
        assert first.poll() is None and time.time() < deadline
        time.sleep(0.02)
    second = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    waiting = second.stdout.readline()  # the second process says it waits for the first ...
    (tmp_path / "go").touch()  # ... and only then does the first go on training
    second_out, first_out = waiting + second.communicate(timeout=120)[0], first.communicate(timeout=120)[0]
    assert first.returncode == 0 and second.returncode == 0
    assert log.read_text() == "built\n"  # trained once
    assert first_out.split() == ["result", "24.0", "waited", "False"]
    assert waiting.startswith(f"waiting for another process working on {tmp_path / 'run'}")
    assert second_out.split()[-4:] == ["result", "24.0", "waited", "True"]  # it waited, then loaded the finished run


_STOPPABLE = _COUNTER + '''
run_dir, log, slow = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "slow"


class Logged(Counter):
    total = 400

    def pause(self, n):
        time.sleep(0.02 * n if slow else 0)

    def run(self, n):
        super().run(n)
        with open(log, "a") as f:
            f.write(f"{self.step}\\n")


runs.save_on_stop()
try:
    r = runs.load_or_train(Logged, run_dir, desc="count", log_every=2, checkpoint_every=1000, progress=False)
    print("finished", r.resumed_from, float(r.state["x"].sum()))
except runs.Stopped as stop:
    print("stopped", stop)
    sys.exit(3)
'''


def test_a_stopped_training_keeps_every_step_it_took_and_resumes_from_there(tmp_path):
    """A job stopped at its time limit gets SIGTERM: with save_on_stop its training saves last.pt at the
    next log step (not only every checkpoint_every steps) and ends; the rerun resumes there and reaches the
    same result. Outside a training loop SIGTERM stops the process at once, as Stopped where it was."""
    import signal
    import subprocess
    import sys
    import time

    script, log, run = tmp_path / "count.py", tmp_path / "steps.txt", tmp_path / "run"
    script.write_text(_STOPPABLE)
    proc = subprocess.Popen([sys.executable, str(script), str(run), str(log), "slow"], stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (log.exists() and len(log.read_text().split()) >= 5):  # 10 steps of 400 taken, no checkpoint yet
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 3 and out.startswith("stopped count: stopped at step "), out
    saved = load_checkpoint(run / "last.pt")
    assert 10 <= saved["step"] < 400 and saved["step"] % 2 == 0 and f"saved to {run / 'last.pt'}" in out
    assert int(log.read_text().split()[-1]) == saved["step"]  # nothing taken after the stop was lost
    out = subprocess.run([sys.executable, str(script), str(run), str(log), "fast"], capture_output=True, text=True,
                         timeout=60).stdout.split()
    assert out == ["finished", str(saved["step"]), "1200.0"]  # resumed at the stop, same result as one run
    assert not (run / "last.pt").exists()

    idle = subprocess.Popen([sys.executable, "-c", "import sys, time; from sdfnets import runs; runs.save_on_stop()\n"
                             "try:\n    print('ready', flush=True); time.sleep(60)\n"
                             "except runs.Stopped as stop:\n    print(stop); sys.exit(3)"],
                            stdout=subprocess.PIPE, text=True)
    assert idle.stdout.readline() == "ready\n"
    idle.send_signal(signal.SIGTERM)
    assert idle.wait(timeout=30) == 3  # not training: stopped at once, where it was
    assert idle.stdout.read() == "stopped outside a training loop\n"


def test_a_stop_request_saves_mid_run_and_lets_a_finishing_run_finish_then_stop(tmp_path):
    class AskedToStopAt(Quadratic):
        def run(self, n):
            super().run(n)
            if self.step >= self.at:
                runs._STOP.set()

    def trainer(at):
        tr = AskedToStopAt()
        tr.at = at
        return tr

    try:
        with pytest.raises(runs.Stopped, match="stopped at step 15 of 37"):
            runs.load_or_train(lambda: trainer(13), tmp_path / "mid", desc="mid", log_every=5, progress=False)
        assert load_checkpoint(tmp_path / "mid" / "last.pt")["step"] == 15  # the next log step, not a checkpoint
        runs._STOP.clear()
        with pytest.raises(runs.Stopped, match="stopped after its last step"):  # asked on the last step:
            runs.load_or_train(lambda: trainer(37), tmp_path / "end", desc="end", log_every=5, progress=False)
        assert load_checkpoint(tmp_path / "end" / "final.pt")["step"] == 37  # it finishes and saves, then stops
        runs._STOP.clear()
        again = runs.load_or_train(lambda: trainer(99), tmp_path / "end", desc="end", log_every=5, progress=False)
        assert again.finished and again.steps == 37  # the next job loads it
    finally:
        runs._STOP.clear()


def test_exclusive_is_reentrant(tmp_path):
    with runs.exclusive(tmp_path / "r"):
        with runs.exclusive(tmp_path / "r"):  # the same process asking again does not deadlock
            pass
        assert str(tmp_path / "r") + ".lock" in runs._HELD
    assert not runs._HELD


def _write_many(args):
    from sdfnets.data.build import _link
    from sdfnets.io import atomic_write_json

    srcs, dst, n = [Path(a) for a in args[0]], Path(args[1]), args[2]
    for i in range(n):
        _link(srcs[i % 2], dst)  # two sources in turn: every call moves a new file into place
        atomic_write_json(dst.with_suffix(".json"), {"i": i})


def test_processes_writing_one_file_at_once_never_move_each_others_half_file(tmp_path):
    """Jobs side by side link the same render into place and write the same JSON; each writes under a
    name of its own first (a shared ``.tmp`` name let one process move away the other's file)."""
    import multiprocessing as mp

    from sdfnets.io import tmp_path as tmp_of

    srcs = [tmp_path / "a.npz", tmp_path / "b.npz"]
    for k, src in enumerate(srcs):
        src.write_bytes(bytes([k]) * 4096)
    dst = tmp_path / "renders" / "obj_0077.npz"
    with mp.get_context("fork").Pool(4) as pool:
        pool.map(_write_many, [([str(s) for s in srcs], str(dst), 300)] * 4)
    assert dst.read_bytes() in {s.read_bytes() for s in srcs}
    assert json.loads(dst.with_suffix(".json").read_text())["i"] == 299
    assert sorted(p.name for p in dst.parent.iterdir()) == ["obj_0077.json", "obj_0077.npz"]  # no temporary left
    assert tmp_of(dst) != dst and tmp_of(dst).parent == dst.parent
