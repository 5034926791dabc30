"""The one trainer loop (sdfnets.train): load-or-train, resume equals an uninterrupted run, checkpoints refuse code."""

import json
import pickle
from pathlib import Path

import pytest
import torch

from sdfnets import train
from sdfnets.devices import default_device
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
            train.set_lr(self.opt, [0.1 * train.cosine(self.step, self.total)])
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
    whole = train.load_or_train(Quadratic, tmp_path / "a", desc="a", log_every=5, checkpoint_every=10,
                               progress=False, extra={"config": {"lr": 0.1}})
    stopped = train.load_or_train(Quadratic, tmp_path / "b", desc="b", log_every=5, checkpoint_every=10,
                                 max_steps=12, progress=False)
    assert not stopped.finished and (tmp_path / "b" / "last.pt").exists() and stopped.steps == 12
    resumed = train.load_or_train(Quadratic, tmp_path / "b", desc="b", log_every=5, checkpoint_every=10, progress=False)
    assert resumed.finished and resumed.resumed_from == 12 and not (tmp_path / "b" / "last.pt").exists()
    assert torch.equal(whole.state["x"], resumed.state["x"])
    assert [s for s, _ in whole.history] == [5, 10, 15, 20, 25, 30, 35, 37]
    assert [s for s, _ in resumed.history] == [5, 10, 12, 15, 20, 25, 30, 35, 37]  # the interruption is logged
    assert "optimizer" not in whole.state  # a finished run keeps no optimiser state
    built = []
    again = train.load_or_train(lambda: built.append(1) or Quadratic(), tmp_path / "a", desc="a", progress=False)
    assert not built and torch.equal(again.state["x"], whole.state["x"]) and again.state["config"] == {"lr": 0.1}
    assert again.history == whole.history


def test_keep_final_false_and_no_run_dir(tmp_path):
    r = train.load_or_train(Quadratic, tmp_path, desc="c", keep_final=False, progress=False)
    assert r.finished and not any(tmp_path.iterdir())
    assert train.load_or_train(Quadratic, None, desc="d", progress=False).steps == 37


def test_run_keys_and_schedules():
    assert train.run_key({"a": 1, "b": [1, 2]}) == train.run_key({"b": [1, 2], "a": 1}) != train.run_key({"a": 2})
    assert train.cosine(0, 100) == pytest.approx(1.0) and train.cosine(100, 100) == pytest.approx(0.05)
    assert train.linear_warmup(0, 10) == pytest.approx(0.1) and train.linear_warmup(50, 10) == 1.0
    assert default_device("cpu").type == "cpu"


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
    pool = mp.get_context("fork").Pool(4)
    try:  # close and join, not the context manager's terminate(): terminating fork workers can leave one
        pool.map(_write_many, [([str(s) for s in srcs], str(dst), 300)] * 4)  # blocked on the queue's lock
    finally:
        pool.close()
        pool.join()
    assert dst.read_bytes() in {s.read_bytes() for s in srcs}
    assert json.loads(dst.with_suffix(".json").read_text())["i"] == 299
    assert sorted(p.name for p in dst.parent.iterdir()) == ["obj_0077.json", "obj_0077.npz"]  # no temporary left
    assert tmp_of(dst) != dst and tmp_of(dst).parent == dst.parent


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    """A final.pt copied in from another run folder (another epoch count, another key) was once loaded as this
    run's, exit 0; every checkpoint now names its run, and a folder holding another's is refused."""
    train.load_or_train(Quadratic, tmp_path / "deepsdf-aaaa", desc="a", progress=False)
    other = tmp_path / "deepsdf-bbbb"
    other.mkdir()
    (other / "final.pt").write_bytes((tmp_path / "deepsdf-aaaa" / "final.pt").read_bytes())
    with pytest.raises(train.loop.RunMismatch, match="a checkpoint of run deepsdf-aaaa, not of deepsdf-bbbb"):
        train.load_or_train(Quadratic, other, desc="b", progress=False)
    assert train.load_or_train(Quadratic, tmp_path / "deepsdf-aaaa", desc="a", progress=False).steps == 37


def test_a_run_key_holds_the_content_of_the_shapes(tmp_path):
    """A trained run was once reused after a folder mesh's content changed: the dataset's name in a run key
    now carries the hash of its shapes' SDF samples."""
    from types import SimpleNamespace

    a = SimpleNamespace(root=tmp_path / "d", content_key="1111111111")
    b = SimpleNamespace(root=tmp_path / "d", content_key="2222222222")
    assert train.data_name(a) != train.data_name(b) and train.data_name(a).endswith("@1111111111")
