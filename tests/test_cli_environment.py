"""The machine's problems are usage errors (exit 2 with a message), and a closed pipe ends quietly.

No CUDA device, no torch, no permission to write the store's folder, a full disk during a store
write: every CLI's ``main`` goes through :func:`theory.cli.command`, which prints
``PROG: error: …`` naming what is missing and what to do; nothing stored is lost.
"""
import errno
import importlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from montecarlo import cli as mc_cli
from montecarlo import store as store_module
from montecarlo.store import Store
from theory import cli

ROOT = Path(__file__).resolve().parents[1]

#: every command's module with a ``main``
COMMANDS = ("theory.predict", "theory.derive", "theory.verify", "montecarlo.cli", "montecarlo.convnets.cli",
            "montecarlo.convnets.train", "montecarlo.convnets.data", "montecarlo.bench.grid", "reports.cli",
            "reports.produce", "reports.readme")

#: a sitecustomize that makes ``import torch`` fail as on a machine without it (nothing in sys.modules)
NO_TORCH = '''import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _NoTorch())
'''


def _run(args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})}, **kw)


@pytest.mark.parametrize("module", COMMANDS)
def test_every_command_goes_through_the_shared_error_path(module):
    main = importlib.import_module(module).main
    assert getattr(main, "__wrapped__", None) is not None, f"{module}.main is not decorated with theory.cli.command"


def test_environment_messages():
    missing = ModuleNotFoundError("No module named 'torch'", name="torch")
    assert "'torch' is not installed" in cli.environment_problem(missing)
    assert "pip install" in cli.environment_problem(missing)
    # a module of this project that does not import is a bug: the traceback is kept
    assert cli.environment_problem(ModuleNotFoundError("x", name="montecarlo.nothing")) is None
    full = cli.environment_problem(OSError(errno.ENOSPC, "No space left on device", "/data/out.json"))
    assert "no space left" in full and "/data/out.json" in full and "free some space" in full
    denied = cli.environment_problem(PermissionError(errno.EACCES, "Permission denied", "/ro/x"))
    assert "no permission to write" in denied and "/ro/x" in denied
    assert "disk is full" in cli.environment_problem(sqlite3.OperationalError("database or disk is full"))
    assert cli.environment_problem(ValueError("a bug")) is None
    assert cli.environment_problem(OSError(errno.EPIPE, "pipe")) is None


def test_command_returns_2_with_a_message(capsys):
    @cli.command("python -m demo")
    def main(argv=None):
        raise OSError(errno.ENOSPC, "No space left on device", "/full/disk/file")

    assert main([]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("python -m demo: error: no space left on the device (/full/disk/file)")

    @cli.command("python -m demo")
    def buggy(argv=None):
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        buggy([])


def test_ctrl_c_is_one_line_and_exit_130(capsys):
    @cli.command("python -m demo")
    def main(argv=None):
        raise KeyboardInterrupt

    assert main([]) == cli.EXIT_INTERRUPTED == 130
    err = capsys.readouterr().err
    assert "python -m demo: interrupted" in err and "Traceback" not in err


def test_an_abandoned_run_starts_no_more_groups(monkeypatch):
    """When a group fails (or Ctrl-C reaches the run), the groups not yet started never start and those
    in flight stop after their current round."""
    import dataclasses
    import threading
    import time

    from montecarlo import evidence
    from theory.claims import get_claim
    started = []
    lock = threading.Lock()

    def fake(key, members, settings, alpha, store, executor, stop=None, scale=1):
        with lock:
            started.append(key)
            first = len(started) == 1
        if first:
            raise KeyboardInterrupt
        while not stop.is_set():             # a group in flight: runs until the run is abandoned
            time.sleep(0.01)
        return {}
    monkeypatch.setattr(evidence, "_sample_group", fake)
    settings = dataclasses.replace(evidence.DEFAULT, threads=2)
    comparisons = evidence.plan([get_claim(c) for c in ("thm1a", "thm1b", "thm2a", "thm2b", "thm3a")], settings)
    groups = evidence.group_comparisons(comparisons)
    assert len(groups) > evidence.GROUPS_IN_FLIGHT + 1
    with pytest.raises(KeyboardInterrupt):
        evidence.run(comparisons, settings, alpha=1e-3)
    # the failing group's thread may pick up one more before the run is abandoned; no further one starts
    assert 1 <= len(started) <= evidence.GROUPS_IN_FLIGHT + 1 < len(groups)


def test_cuda_backend_without_a_device_is_a_usage_error(capsys, monkeypatch, tmp_path):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    path = tmp_path / "store.sqlite"
    code = mc_cli.main(["ff", "--depth", "3", "--nets", "2", "--backend", "cuda", "--store", str(path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "python -m montecarlo: error: --backend: backend='cuda' is not allowed here: no CUDA device" in err
    assert "use numpy, numba or torch" in err and "Traceback" not in err
    assert not path.exists()  # refused before the store was opened


def _no_torch_env(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_TORCH)
    return {"PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}


def _synthetic_cifar(folder: Path, n: int = 8) -> Path:
    import pickle

    import numpy as np
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("data_batch_1", "test_batch"):
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(range(n))}
        (folder / name).write_bytes(pickle.dumps(batch))
    return folder


@pytest.mark.parametrize("args", [
    ["montecarlo", "ff", "--depth", "3", "--nets", "2", "--no-store", "--backend", "torch"],
    ["montecarlo.convnets", "--no-store", "--minibatches", "1", "--batch-size", "4", "--depths", "2", "--data", "DATA"],
    ["montecarlo.convnets.train", "--no-store", "--epochs", "1", "--train-images", "8", "--test-images", "8",
     "--data", "DATA"],
])
def test_no_torch_is_a_usage_error(tmp_path, args):
    data = _synthetic_cifar(tmp_path / "cifar-10-batches-py")
    proc = _run([str(data) if a == "DATA" else a for a in args], env=_no_torch_env(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert f"python -m {args[0]}" in proc.stderr
    assert "'torch' is not installed" in proc.stderr and "pip install" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def _run_ff(path, seed="0", arch="ff"):
    return mc_cli.main([arch, "--depth", "3", "--nets", "4", "--batch", "2", "--seed", seed, "--store", str(path),
                        "--json"])


def test_full_disk_during_a_store_write(capsys, monkeypatch, tmp_path):
    """SQLite's own "database or disk is full" (max_page_count at the file's size): exit 2, the
    store still opens, the run stored before is intact and is reused as it was."""
    path = tmp_path / "store.sqlite"
    assert _run_ff(path) == 0
    before = capsys.readouterr().out
    connect = store_module.Store._connect

    def full_disk(self, file, mode):
        db = connect(self, file, mode)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {max(pages, 1)}")
        return db

    monkeypatch.setattr(store_module.Store, "_connect", full_disk)
    assert mc_cli.main(["ff", "--depth", "30", "--nets", "4", "--batch", "2", "--experiment", "grid", "--store",
                        str(path), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "python -m montecarlo: error: results store" in err and "the disk is full" in err
    assert "everything stored before is intact" in err and "free some space" in err
    monkeypatch.setattr(store_module.Store, "_connect", connect)
    with Store(path) as st:
        runs = st.runs()
        assert [r.networks for r in runs if r.key.experiment == "pairs"] == [4]
        assert all(r.networks == 0 for r in runs if r.key.experiment == "grid")  # nothing half-written
        assert len(st.results()) == 1
    assert _run_ff(path) == 0
    assert capsys.readouterr().out == before


def test_no_permission_on_the_store_folder_simulated(capsys, monkeypatch, tmp_path):
    """The folder check, whoever runs the test (root ignores file permissions)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(store_module.os, "access",
                        lambda p, mode, **kw: False if Path(p) == folder else real_access(p, mode, **kw))
    assert _run_ff(folder / "store.sqlite") == 2
    err = capsys.readouterr().err
    assert f"no permission to write in its folder {folder}" in err and "--store PATH" in err
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file permissions")
def test_no_permission_on_the_store_folder(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        proc = _run(["montecarlo", "ff", "--depth", "3", "--nets", "2", "--store", str(folder / "s.sqlite")])
    finally:
        folder.chmod(0o755)
    assert proc.returncode == 2, proc.stderr
    assert "no permission to write in its folder" in proc.stderr and "Traceback" not in proc.stderr
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("args", [
    ["theory.predict", "ff", "--depth", "5000", "--curve"],
    ["theory.predict", "ff", "--depth", "5000", "--curve", "--json"],
])
def test_closed_pipe_ends_quietly(args):
    """The reader takes one line and closes the pipe (as ``| head -1``): no traceback, exit 0."""
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=300) == 0, err
    assert err == ""
