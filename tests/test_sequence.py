"""The full-scale sequence: every notebook in exactly one GPU job (or named as not a GPU job), and
each job after the jobs whose runs it reads."""

import pytest

from sdfnets import notebooks, sequence

# notebook -> the notebooks whose runs it loads (load-or-train: without them it would train them itself)
NEEDS = {"03": {"02"}, "04": {"02"}, "05": {"04"}, "06": {"04"}, "07": {"04"}, "08": {"04"}, "09": {"04", "08"},
         "10": {"04"}, "14": {"04"}, "12": {"11"}}


def _where():
    """Where each notebook first runs."""
    return {nb: (j.wave, j.name, i) for j in sequence.JOBS[::-1] for i, nb in enumerate(j.notebooks)}


def test_every_notebook_is_in_one_job_or_named_as_not_a_gpu_job():
    listed = [nb for j in sequence.JOBS if not j.resumes for nb in j.notebooks]
    assert len(listed) == len(set(listed))
    for j in sequence.JOBS:  # a job that resumes comes after the one it continues
        assert not j.resumes or all(_where()[nb][0] < j.wave for nb in j.notebooks)
    every = {p.stem[:2] for p in notebooks.list_notebooks()}
    assert set(listed) | set(sequence.NOT_GPU_JOBS) == every and not set(listed) & set(sequence.NOT_GPU_JOBS)


def test_a_job_comes_after_the_runs_it_reads():
    where = _where()
    for nb, needs in NEEDS.items():
        for dep in needs:
            (w, job, i), (dw, djob, di) = where[nb], where[dep]
            # an earlier wave, or earlier in the same job; beside it in the same wave only where it waits on the lock
            assert dw < w or (job == djob and di < i) or (nb, dep) == ("09", "08"), (nb, dep)


def test_unknown_names_fail_clearly():
    with pytest.raises(ValueError, match="unknown job 'nope'"):
        sequence.job("nope")
    with pytest.raises(SystemExit):
        sequence.main(["--wave", "9"])


def test_a_job_past_the_limit_is_stopped_and_recorded(tmp_path, monkeypatch):
    """The runner stops a job at its time limit and says so (wave 3 at smoke, with a limit of a second)."""
    import json

    monkeypatch.setattr(sequence, "result_path", lambda name: tmp_path / f"{name}.json")
    last = [j for j in sequence.JOBS if j.wave == 3]
    codes = sequence.run_wave(3, 2, tmp_path / "logs", scale="smoke", limit_s=1.0)
    assert codes == [0] * len(last)
    for j in last:
        record = json.loads((tmp_path / f"{j.name}.json").read_text())
        assert record["stopped_at_limit"] and 1.0 <= record["seconds"] < 30
    summary = sequence.gather(tmp_path / "summary.json")  # stopped jobs count their time, name no notebook
    assert [r["job"] for r in summary["jobs"]] == [j.name for j in last] and summary["by_notebook"] == {}
    assert summary["gpu_seconds"] == pytest.approx(sum(r["seconds"] for r in summary["jobs"]), abs=0.2)


def test_jobs_side_by_side_get_disjoint_cores():
    """Each lane its own slice of the cores (its worker pools size themselves by it); too few cores: all."""
    shares = [sequence.core_share(g, 4, list(range(64))) for g in range(4)]
    assert [len(s) for s in shares] == [16] * 4 and sorted(sum(shares, [])) == list(range(64))
    assert sequence.core_share(1, 2, [3, 5, 7]) == [5] and sequence.core_share(0, 4, [0, 1]) == [0, 1]
