"""Test set-up: every output goes to a temporary folder, never into the working tree."""

from __future__ import annotations

import os

import pytest

from sdfnets import config


def pytest_configure(config):
    """Under pytest-xdist each worker gets its share of the cores: torch (and the notebook kernels and
    workers it starts, through the environment) with a thread each would otherwise run workers x cores threads
    on the cores, which spin against each other and made the suite several times slower."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        share = str(max(1, (os.cpu_count() or 1) // int(workers)))
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(var, share)
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session", autouse=True)
def isolated_outputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sdfnets")
    env = {f"SDFNETS_{k}_DIR": str(root / k.lower()) for k in ("DATA", "FIGURES", "BUILD", "RUNS", "BENCH")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield root
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def smoke_cfg():
    return config.resolve("smoke")


@pytest.fixture(scope="session")
def smoke_dataset(smoke_cfg):
    from sdfnets.data import load_or_build

    return load_or_build(smoke_cfg.data, progress=False)
