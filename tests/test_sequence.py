"""The full-scale sequence: every notebook in exactly one GPU job (or named as not a GPU job), each job
after the jobs whose runs it reads; jobs side by side on a GPU, stopped at the limit, resumed by the next
wave from their first unfinished notebook; GPU time counted once per GPU."""

import json
import os

import pytest

from sdfnets import notebooks, sequence

# notebook -> the notebooks whose runs it loads (load-or-train: without them it would train them itself)
NEEDS = {"03": {"02"}, "04": {"02"}, "05": {"04"}, "06": {"04"}, "07": {"04"}, "08": {"04"}, "09": {"04", "08"},
         "10": {"04"}, "14": {"04"}, "12": {"11"}}


@pytest.fixture
def build(tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_BUILD_DIR", str(tmp_path))
    return tmp_path


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
            if dw < w:  # a job taken ahead of its wave waits for exactly these
                assert dep in sequence.job(job).needs, (job, dep)


def test_unknown_names_fail_clearly():
    with pytest.raises(ValueError, match="unknown job 'nope'"):
        sequence.job("nope")
    with pytest.raises(SystemExit):
        sequence.main(["--wave", "9"])


def test_jobs_go_longest_first_onto_the_least_loaded_gpu_with_a_free_slot(build):
    jobs = [sequence.Job(n, 2, (), "", t) for n, t in zip("abcdef", (100, 500, 300, 200, 400, 50))]
    plan = [[j.name for j in g] for g in sequence.place(jobs, 4, 2, seconds=lambda j: j.seconds)]
    assert plan == [["b", "f"], ["e", "a"], ["c", "d"]]  # 3 GPUs for 6 slots; loads 550, 500, 500
    plan = [[j.name for j in g] for g in sequence.place(jobs, 2, 2, seconds=lambda j: j.seconds)]
    assert plan == [["b", "d", "a"], ["e", "c", "f"]]  # slots full: the rest queue behind the lighter GPU
    wave1 = [[j.name for j in g] for g in sequence.place([j for j in sequence.JOBS if j.wave == 1], 4, 2)]
    # 00 (no GPU work) beside 16, 15 beside 02-06, 11 alone: what the measured runs did
    assert wave1 == [["weight-space", "scaling"], ["deepsdf"], ["generalisation", "data-foundation"]]
    wave1 = [[j.name for j in g] for g in sequence.place([j for j in sequence.JOBS if j.wave == 1], 2, 4)]
    assert wave1 == [["weight-space", "scaling"], ["deepsdf", "generalisation", "data-foundation"]]


def test_a_stopped_job_is_placed_by_what_it_still_needs(build):
    j = sequence.job("generalisation")
    assert sequence.remaining_seconds(j) == j.seconds
    sequence._write(sequence.record_path(j.name, 1), {"job": j.name, "wave": 1, "seconds": 100.0, "notebooks": []})
    assert sequence.remaining_seconds(j) == j.seconds - 50.0
    sequence._write(sequence.record_path(j.name, 2), {"job": j.name, "wave": 2, "seconds": 900.0, "notebooks": []})
    assert sequence.remaining_seconds(j) == j.seconds / 4  # at least a quarter: restarting costs too


def test_jobs_side_by_side_get_disjoint_cores():
    """Each GPU its share of the cores, split among the jobs that run on it at once; too few cores: all."""
    shares = [sequence.core_share(g, 4, list(range(64))) for g in range(4)]
    assert [len(s) for s in shares] == [16] * 4 and sorted(sum(shares, [])) == list(range(64))
    assert sequence.core_share(1, 2, [3, 5, 7]) == [5] and sequence.core_share(0, 4, [0, 1]) == [0, 1]
    cores = list(range(64))
    pair = [sequence.gpu_cores(1, s, 2, 4, 2, cores) for s in range(2)]
    assert pair == [list(range(16, 24)), list(range(24, 32))]
    assert sequence.gpu_cores(2, 0, 1, 4, 2, cores) == list(range(32, 48))  # alone on its GPU: the GPU's share
    four = [sequence.gpu_cores(1, s, 4, 2, 4, cores) for s in range(4)]  # 2 GPUs, 4 jobs on one: 8 cores each
    assert four == [list(range(32 + 8 * s, 40 + 8 * s)) for s in range(4)]
    assert sequence.gpu_cores(0, 2, 3, 2, 4, cores) == list(range(20, 30))  # three at once: a third each


def test_gpu_time_counts_jobs_side_by_side_once():
    assert sequence.occupied_seconds([(0, 10), (5, 20), (30, 31)]) == 21
    assert sequence.occupied_seconds([]) == 0


def test_a_job_past_the_limit_is_stopped_recorded_and_resumed_by_the_next_wave(build):
    """Wave 2 at smoke with a limit of a second: every job stopped and recorded, and wave 3 has them all to do."""
    wave2 = [j.name for j in sequence.JOBS if j.wave == 2]
    codes = sequence.run_wave(2, 2, build / "logs", scale="smoke", limit_s=1.0, per_gpu=3)
    assert codes == [0] * len(wave2)
    for name in wave2:
        record = json.loads(sequence.record_path(name, 2).read_text())
        assert record["stopped_at_limit"] and 1.0 <= record["seconds"] < 40 and record["gpu"] in (0, 1)
    assert [j.name for j in sequence.left_over(3)] == wave2
    summary = sequence.gather(build / "summary.json")
    assert summary["by_notebook"] == {}  # stopped jobs count their time, name no notebook
    assert summary["gpu_seconds"] == pytest.approx(sum(summary["gpu_occupied_seconds"].values()), abs=0.2)
    assert summary["gpu_seconds"] < summary["job_seconds"]  # three jobs at once on each GPU


def test_a_resumed_job_runs_only_what_it_had_not_finished(build, monkeypatch):
    stopped = {"job": "weight-space", "wave": 1, "start_epoch": 1.0, "end_epoch": 9.0, "seconds": 8.0, "gpu": 0,
               "stopped_at_limit": True, "notebooks": [{"notebook": f"0{i}_x", "status": "ran", "seconds": 1.0}
                                                       for i in (2, 3, 4, 5)]}
    sequence._write(sequence.record_path("weight-space", 1), stopped)
    assert sequence.finished("weight-space") == {"02", "03", "04", "05"}
    assert "weight-space" in [j.name for j in sequence.left_over(2)] and sequence.left_over(1) == []
    ran = []
    cells = [{"cell": 4, "seconds": 1.5, "code": "gen = train()"}]
    monkeypatch.setattr(notebooks, "run_all", lambda scale, only, **kw: ran.append(only) or
                        [notebooks.NotebookResult(f"{only}_x", "ran", 2.0, cells=cells)])
    record = sequence.run_job("weight-space", "smoke", sequence.record_path("weight-space", 2))
    assert ran == ["06"] and record["skipped_done"] == ["02", "03", "04", "05"]
    assert record["notebooks"][0]["slowest_cells"] == cells  # where the notebook's time went
    assert "weight-space" not in [j.name for j in sequence.left_over(3)]  # finished now


def test_a_job_stopped_inside_a_notebook_records_the_cells_it_had_timed(build, monkeypatch):
    from sdfnets import runs

    def stopped(scale, only, **kw):
        stop = runs.Stopped("weight DiT (phase2): stopped at step 10 of 20")
        stop.slowest_cells = [{"cell": 6, "seconds": 3.0, "code": "gen = train()"}]  # what run_all attaches
        stop.stopped_cell = {"cell": 6, "seconds": 3.0, "code": "gen = train()"}
        raise stop

    monkeypatch.setattr(notebooks, "run_all", stopped)
    with pytest.raises(SystemExit):
        sequence.run_job("weight-space", "smoke", sequence.record_path("weight-space", 1))
    record = json.loads(sequence.record_path("weight-space", 1).read_text())
    assert record["stopped_in"] == {"notebook": "02", "training": "weight DiT (phase2): stopped at step 10 of 20",
                                    "cell": {"cell": 6, "seconds": 3.0, "code": "gen = train()"},
                                    "slowest_cells": [{"cell": 6, "seconds": 3.0, "code": "gen = train()"}]}


def test_a_job_is_moved_to_other_cores_with_every_process_and_thread_of_it():
    """A job alone on its GPU gets the GPU's whole share of the cores, and gives half back when another job
    joins it: :func:`sequence.pin` moves every thread of the job's process group (its worker pools too)."""
    import os
    import subprocess
    import sys
    import time

    cores = sorted(os.sched_getaffinity(0))
    job = ("import subprocess, sys, threading, time; threading.Thread(target=time.sleep, args=(20,)).start(); "
           "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(20)']); time.sleep(20)")
    proc = subprocess.Popen([sys.executable, "-c", job], start_new_session=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, cores[:1]))
    try:
        def tasks():
            return [int(t) for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == proc.pid
                    for t in os.listdir(f"/proc/{p}/task")]

        deadline = time.time() + 30
        while len(tasks()) < 3 and time.time() < deadline:  # the job, its thread and its worker
            time.sleep(0.1)
        assert len(tasks()) == 3
        sequence.pin(proc.pid, cores)
        assert all(sorted(os.sched_getaffinity(t)) == cores for t in tasks())
        sequence.pin(proc.pid, cores[-1:])
        assert all(sorted(os.sched_getaffinity(t)) == cores[-1:] for t in tasks())
        assert sorted(os.sched_getaffinity(0)) == cores  # this process is not of the job's group: untouched
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


def test_jobs_at_the_limit_are_stopped_at_once_and_one_that_ignores_it_is_killed(tmp_path):
    """Every late job gets SIGTERM before any of them has finished saving (eight jobs one after another took
    past the end of a command); one that ignores it is killed when the grace is over."""
    import subprocess
    import sys

    saving = ("import signal, sys, time\n"
              "def stop(*_):\n"
              "    open(sys.argv[1] + '.got', 'w').write(repr(time.time())); time.sleep(1.5)\n"
              "    open(sys.argv[1] + '.end', 'w').write(repr(time.time())); sys.exit(0)\n"
              "signal.signal(signal.SIGTERM, stop); open(sys.argv[1] + '.ready', 'w'); time.sleep(60)\n")
    deaf = "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); open(sys.argv[1] + '.ready', 'w'); time.sleep(60)"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / str(i))], start_new_session=True)
             for i, code in enumerate([saving] * 3 + [deaf])]
    try:
        _wait_for(lambda: all((tmp_path / f"{i}.ready").exists() for i in range(4)))
        sequence._stop(procs, grace=6.0)
        got = [float((tmp_path / f"{i}.got").read_text()) for i in range(3)]
        ended = [float((tmp_path / f"{i}.end").read_text()) for i in range(3)]
        assert max(got) < min(ended)  # all asked before the first had finished
        assert [p.returncode for p in procs] == [0, 0, 0, -9]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_no_job_outlives_the_sequence(build, how):
    """The sequence stopped from outside (a command's time limit): on SIGTERM it stops its jobs and records
    them; killed outright, the kernel sends each job SIGTERM (PR_SET_PDEATHSIG). Before, a job of a killed
    command ran on into the next one, beside its own rerun."""
    import signal
    import subprocess
    import sys

    env = {**os.environ, "SDFNETS_BUILD_DIR": str(build)}
    parent = subprocess.Popen([sys.executable, "-m", "sdfnets.sequence", "--wave", "1", "--no-rebuild", "--gpus", "1",
                               "--scale", "smoke"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: len(_jobs_of(build)) == 2 and len(list(sequence.records_dir().glob("*.json"))) >= 2)
        started = sorted(p.stem for p in sequence.records_dir().glob("*.json"))
        parent.send_signal(getattr(signal, how))
        out = parent.communicate(timeout=60)[0].decode()
        _wait_for(lambda: not _jobs_of(build))  # every job of it has ended
        if how == "SIGTERM":
            assert parent.returncode == 128 + signal.SIGTERM and out.count("stopped with the sequence") == 2, out
            for name in started:
                rec = json.loads((sequence.records_dir() / f"{name}.json").read_text())
                assert rec["stopped_at_limit"] and rec["gpu"] == 0 and rec["end_epoch"] > rec["start_epoch"]
        else:
            assert parent.returncode == -signal.SIGKILL
            for name in started:  # the job's own record still says where and when it ran
                rec = json.loads((sequence.records_dir() / f"{name}.json").read_text())
                assert rec["gpu"] == 0 and rec["end_epoch"] >= rec["start_epoch"]
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in _jobs_of(build):
            os.killpg(pid, 9)


def _jobs_of(build):
    """The job processes (``sequence --job``) started with this build folder."""
    found = []
    for p in os.listdir("/proc"):
        try:
            cmd = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")
            env = open(f"/proc/{p}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"--job" in cmd and f"SDFNETS_BUILD_DIR={build}".encode() in env:
            found.append(int(p))
    return found


def _wait_for(condition, seconds=60.0):
    import time

    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def _pgid(pid):
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def test_a_later_waves_job_starts_early_once_the_runs_it_reads_are_finished(build):
    def rec(name, wave, nbs):
        sequence._write(sequence.record_path(name, wave),
                        {"job": name, "wave": wave, "seconds": 1.0, "stopped_at_limit": False,
                         "notebooks": [{"notebook": nb, "status": "ran", "seconds": 1.0, "drifted": 0} for nb in nbs]})

    rec("weight-space", 1, ["02", "03"])
    rec("deepsdf", 1, ["11"])
    assert [j.name for j in sequence.ready_ahead(1, sequence.records(), set())] == ["latent"]  # 04 not yet
    rec("weight-space", 1, ["02", "03", "04"])
    ready = [j.name for j in sequence.ready_ahead(1, sequence.records(), {"multiview"})]
    assert ready == ["single-view", "ablations", "autoencoder", "latent", "hypernetwork"]  # longest first
    assert sequence.ready_ahead(2, sequence.records(), set()) == []  # no wave after 2 has jobs
    # wave 1 with every job of it finished: its free slots take wave 2's ready jobs (stopped here at once)
    for j in sequence.JOBS:
        if j.wave == 1:
            rec(j.name, 1, list(j.notebooks))
    codes = sequence.run_wave(1, 4, build / "logs", scale="smoke", limit_s=0.5, per_gpu=2)
    wave2 = [j.name for j in sequence.JOBS if j.wave == 2]
    assert codes == [0] * len(wave2)
    for name in wave2:
        r = json.loads(sequence.record_path(name, 1).read_text())
        assert r["ahead_of_wave"] == 2 and r["stopped_at_limit"] and r["gpu"] in range(4)
    assert sorted(j.name for j in sequence.left_over(3)) == sorted(wave2)  # the next wave resumes them
    assert sequence.next_wave() == 2


def test_jobs_not_started_by_the_deadline_are_left_for_the_next_wave(build):
    import time

    codes = sequence.run_wave(2, 1, build / "logs", scale="smoke", per_gpu=2, deadline=time.time() - 1)
    wave2 = [j.name for j in sequence.JOBS if j.wave == 2]
    assert codes == [] and [j.name for j in sequence.left_over(3)] == wave2
    assert all(json.loads(sequence.record_path(n, 2).read_text())["not_started"] for n in wave2)
    assert sequence.gather(build / "summary.json")["gpu_seconds"] == 0


def test_the_plan_is_printed_without_running_anything(build, capsys):
    assert sequence.main(["--wave", "1", "--gpus", "4", "--plan"]) == 0
    out = capsys.readouterr().out
    assert "wave 1: 5 jobs on 4 GPUs" in out and "GPU 2: generalisation (16) ~235 s | data-foundation (00) ~90 s" in out
    assert not sequence.records_dir().exists() or not list(sequence.records_dir().iterdir())


def test_next_wave_carries_on_from_this_machines_records_and_starts_over_on_a_fresh_one(build, capsys):
    def rec(name, wave, done=False, stopped=False):
        j = sequence.job(name)
        nbs = [{"notebook": nb, "status": "ran", "seconds": 1.0, "drifted": 0} for nb in j.notebooks] if done else []
        sequence._write(sequence.record_path(name, wave), {"job": name, "wave": wave, "notebooks": nbs,
                                                            "seconds": 1.0, "stopped_at_limit": stopped})

    assert sequence.next_wave() == 1  # a fresh node: rebuild and wave 1
    with pytest.raises(SystemExit):  # wave 2 without wave 1's runs is refused, with what to run instead
        sequence.main(["--wave", "2"])
    assert "--wave next" in capsys.readouterr().err
    rec("generalisation", 1, stopped=True)
    assert sequence.next_wave() == 1  # wave 1's other jobs never started (its command ended first)
    for j in sequence.JOBS:
        if j.wave == 1 and j.name != "generalisation":
            rec(j.name, 1, done=True)
    assert sequence.next_wave() == 2
    for j in sequence.JOBS:
        if j.wave == 2:
            rec(j.name, 2, done=True)
    assert sequence.next_wave() == 3 and [j.name for j in sequence.left_over(3)] == ["generalisation"]
    rec("generalisation", 3, stopped=True)
    assert sequence.next_wave() == 4  # still not finished: one more wave of what is left
    rec("generalisation", 4, done=True)
    sequence._write(sequence.record_path("latent", 2), {"job": "latent", "wave": 2, "seconds": 1.0, "notebooks": [
        {"notebook": "12_image_to_latent", "status": "failed", "seconds": 1.0, "drifted": 0, "error": "a passing fault"}]})
    assert sequence.next_wave() == 5 and [j.name for j in sequence.left_over(5)] == ["latent"]  # a failed job: again
    rec("latent", 5, done=True)
    assert sequence.next_wave() is None
    assert sequence.main(["--wave", "next"]) == 0  # nothing to run
    assert "every job's notebooks are finished" in capsys.readouterr().out


def test_a_gathered_run_becomes_a_results_file_with_its_drift(build, tmp_path):
    """bench/sequence_result.py: spans from the first start, notebooks by number, each command's wall time, and
    the drift of the values this run regenerated (a file of another commit is left out)."""
    import importlib.util

    from sdfnets import paths

    spec = importlib.util.spec_from_file_location("sequence_result", paths.BENCH_DIR / "sequence_result.py")
    result = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(result)
    rec = {"job": "data-foundation", "wave": 1, "gpu": 0, "cores": 8, "start_epoch": 1000.0, "end_epoch": 1030.0,
           "seconds": 30.0, "commit": "abc1234", "device": "test card", "stopped_at_limit": False,
           "notebooks": [{"notebook": "00_data_foundation", "status": "ran", "seconds": 29.0, "drifted": 1,
                          "slowest_cells": [{"cell": 5, "seconds": 20.5, "code": "ds = build()"}]}]}
    sequence.records_dir().mkdir(parents=True)
    (sequence.records_dir() / "data-rebuild.json").write_text(json.dumps(
        {"job": "data rebuild", "wave": 1, "seconds": 5.0, "workers": 4, "start_epoch": 995.0, "end_epoch": 1000.0}))
    (sequence.records_dir() / "data-foundation.wave1.json").write_text(json.dumps(rec))
    sequence.gather(build / "summary.json")
    summary = json.loads((build / "summary.json").read_text())
    late = {"job": "latent", "wave": 2, "notebooks": [], "seconds": 0.0, "stopped_at_limit": True, "not_started": True}
    assert result.jobs_of(summary | {"jobs": summary["jobs"] + [late]})[-1] == {
        "job": "latent", "wave": 2, "seconds": 0.0, "notebooks": {}, "stopped_at_limit": True, "not_started": True}
    repo_values = paths.REPO_ROOT / "figures" / "values"
    for nb in ("00_data_foundation", "02_anchor_decoders"):  # the committed values, where this session's figures go
        paths.values_path(nb, "full").parent.mkdir(parents=True, exist_ok=True)
        paths.values_path(nb, "full").write_text((repo_values / f"{nb}.full.json").read_text())
    committed = json.loads(paths.values_path("00_data_foundation", "full").read_text())
    values = tmp_path / "values"
    values.mkdir()
    moved = json.loads(json.dumps(committed))
    key = next(k for k, v in moved["values"].items() if isinstance(v, int) and not isinstance(v, bool))
    moved["values"][key] += 1  # a count must stay equal
    (values / "00_data_foundation.full.json").write_text(json.dumps(moved | {"git_commit": "abc1234"}))
    (values / "02_anchor_decoders.full.json").write_text(paths.values_path("02_anchor_decoders", "full").read_text())
    out = tmp_path / "run.json"
    assert result.main([str(build / "summary.json"), str(values), str(out), "--commands", "40.5", "--what", "a test"]) == 0
    run = json.loads(out.read_text())
    assert run["commit"] == "abc1234" and run["complete"] and run["commands"] == [{"command": 1, "wall_seconds": 40.5, "wave": 1}]
    assert [(j["job"], j["start_s"], j["end_s"]) for j in run["jobs"]] == [("data rebuild", 0.0, 5.0),
                                                                          ("data-foundation", 5.0, 35.0)]  # from the rebuild's start
    assert run["jobs"][1]["notebooks"] == {"00": {"status": "ran", "seconds": 29.0, "drifted": 1, "slowest_cells": [
        {"cell": 5, "seconds": 20.5, "code": "ds = build()"}]}}
    assert list(run["drift_against_committed"]) == ["00"]  # 02's file is the committed one, not regenerated here
    drift = run["drift_against_committed"]["00"]
    assert drift["outside_tolerance"] == 1 and drift["outside"][0]["key"] == key
