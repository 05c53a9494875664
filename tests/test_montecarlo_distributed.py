"""Dask execution: a local cluster gives the single-process numbers bit for bit, writes every chunk
to the store as it completes, and loses no result when a worker dies mid-chunk."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

from montecarlo.distributed import DaskExecutor, dask_executor  # noqa: E402
from montecarlo.observables import grid, typical_pairs  # noqa: E402
from montecarlo.chunks import compute_chunk  # noqa: E402
from montecarlo.runner import estimate  # noqa: E402
from montecarlo.store import Store  # noqa: E402
from theory.specs import FeedforwardSpec, ResnetSpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPEC = ResnetSpec(depth=4, width=12, beta=0.5, norm="bn")
RUN = dict(nets=12, seed=3, pairs=3)
MARKER = "MONTECARLO_TEST_KILL_MARKER"


def _dump(result) -> str:
    return json.dumps(result.to_dict())


def compute_or_die_once(task):
    """Kills its own worker process (SIGKILL, mid-chunk) the first time it sees chunk [4, 6)."""
    marker = os.environ.get(MARKER)
    if marker and task.start == 4 and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return compute_chunk(task)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    marker = tmp_path_factory.mktemp("dask") / "killed-once"
    os.environ[MARKER] = str(marker)  # inherited by the worker processes (and their restarts)
    try:
        with dask_executor(workers=2) as executor:
            executor.marker = marker
            yield executor.client
    finally:
        os.environ.pop(MARKER, None)


def test_local_cluster_equals_single_process_bit_for_bit(client, tmp_path):
    path = tmp_path / "d.sqlite"
    states = []
    got = estimate(SPEC, chunk=2, store=path, executor=client, progress=lambda s: states.append(s.computed), **RUN)
    assert _dump(got) == _dump(typical_pairs(SPEC, **RUN))
    assert states[-1] == 6
    with Store(path) as store:  # the client wrote every chunk; the workers were two processes
        [run] = store.runs()
        assert run.chunks == 6 and run.finished == (12,)
        workers = {w for (w,) in store.db.execute("SELECT DISTINCT worker FROM chunks")}
        assert len(workers) == 2 and not any(w.endswith(f":{os.getpid()}") for w in workers)
    states.clear()
    again = estimate(SPEC, chunk=3, store=path, progress=lambda s: states.append(s.computed), **RUN)
    assert states[-1] == 0 and _dump(again) == _dump(got)
    spec = FeedforwardSpec(depth=3, width=10, norm="center")
    g = estimate(spec, "grid", nets=5, seed=2, chunk=1, points=32, max_lag=8, executor=client)
    ref = grid(spec, nets=5, seed=2, points=32, max_lag=8)
    assert _dump(g) == _dump(ref) and np.array_equal(g.covariance_matrix, ref.covariance_matrix)


def test_a_worker_killed_mid_chunk_loses_no_result(client, tmp_path):
    marker = Path(os.environ[MARKER])
    assert not marker.exists()
    path = tmp_path / "w.sqlite"
    got = estimate(SPEC, chunk=2, store=path, executor=DaskExecutor(client, compute_or_die_once), **RUN)
    assert marker.exists()  # a worker really died inside chunk [4, 6) ...
    assert _dump(got) == _dump(typical_pairs(SPEC, **RUN))  # ... and its chunk was recomputed
    with Store(path) as store:
        assert store.runs()[0].chunks == 6


def test_cli_workers_flag(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = [sys.executable, "-m", "montecarlo", "ff", "--depth", "3", "--width", "10", "--nets", "6",
            "--pairs", "2", "--batch", "2", "--json"]
    dist = subprocess.run(args + ["--workers", "2", "--store", str(tmp_path / "cli.sqlite")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    single = subprocess.run(args + ["--no-store"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert dist.returncode == 0 and single.returncode == 0, dist.stderr
    assert dist.stdout == single.stdout and json.loads(dist.stdout)["variance"]["n"] == 6
