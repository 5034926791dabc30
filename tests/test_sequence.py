"""The full-scale sequence: every notebook in exactly one GPU job (or named as not a GPU job), and
each job after the jobs whose runs it reads."""

import pytest

from sdfnets import notebooks, sequence

# notebook -> the notebooks whose runs it loads (load-or-train: without them it would train them itself)
NEEDS = {"03": {"02"}, "04": {"02"}, "05": {"04"}, "06": {"04"}, "07": {"04"}, "08": {"04"}, "09": {"04", "08"},
         "10": {"04"}, "14": {"04"}, "12": {"11"}}


def _where():
    return {nb: (j.wave, j.name, i) for j in sequence.JOBS for i, nb in enumerate(j.notebooks)}


def test_every_notebook_is_in_one_job_or_named_as_not_a_gpu_job():
    listed = [nb for j in sequence.JOBS for nb in j.notebooks]
    assert len(listed) == len(set(listed))
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
