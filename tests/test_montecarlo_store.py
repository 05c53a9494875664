"""The results store and stored runs: round trip, reuse, resume after kill -9, concurrent writers,
corrupt and incompatible stores (a clear error, the file's bytes unchanged)."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from montecarlo import chunks, runner
from montecarlo.chunks import Segment, plan_chunks
from montecarlo.observables import PairsExperiment, grid, typical_pairs
from montecarlo.results import load_result
from montecarlo.runner import estimate
from montecarlo.store import SCHEMA_VERSION, RunKey, Store, StoreError, default_store_path, engine_version
from theory.specs import FeedforwardSpec, ResnetSpec, ShallowSpec

ROOT = Path(__file__).resolve().parents[1]
SPEC = ResnetSpec(depth=4, width=12, beta=0.5, norm="bn")
RUN = dict(nets=10, seed=3, pairs=3)


def _dump(result) -> str:
    return json.dumps(result.to_dict())


def _counter():
    states = []
    return states, lambda s: states.append((s.total, s.reused, s.computed))


def _reference() -> str:
    return _dump(typical_pairs(SPEC, **RUN))


# ----------------------------------------------------------------------------- store basics
def test_chunk_round_trip_and_listing(tmp_path):
    path = tmp_path / "deep" / "dir" / "results.sqlite"
    exp = PairsExperiment(SPEC, pairs=3)
    key = RunKey.of(exp, 3, "numba")
    rows = np.random.default_rng(0).standard_normal((4, exp.width()))
    with Store(path) as store:
        assert store.put_chunk(key, 0, 4, rows) is True
        assert store.put_chunk(key, 0, 4, rows) is False  # duplicates are harmless
        back = store.load_chunk(key, 0, 4, exp.width())
        assert back.dtype == np.float64 and np.array_equal(back, rows)
        assert store.chunk_ranges(key) == [(0, 4)]
        store.put_result(key, 4, {"x": 1.5})
        [run] = store.runs()
        assert (run.chunks, run.networks, run.contiguous, run.finished) == (1, 4, 4, (4,))
        assert run.key == key and run.spec == SPEC.to_dict() and run.options["backend"] == "numba"
        [res] = store.results()
        assert res["document"] == {"x": 1.5} and res["current"] and res["nets"] == 4
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert dict(db.execute("SELECT key, value FROM meta"))["schema_version"] == str(SCHEMA_VERSION)


def test_key_is_canonical_and_complete():
    a = RunKey.of(PairsExperiment(SPEC, pairs=3), 3, "numba")
    assert a == RunKey.of(PairsExperiment(ResnetSpec(depth=4, width=12, beta=0.5, norm="bn"), pairs=3), 3, "numba")
    assert json.loads(a.spec) == SPEC.to_dict() and ", " not in a.spec
    assert json.loads(a.options) == {"model": "real", "pairs": 3, "bn_backward": "constant", "backend": "numba"}
    others = [RunKey.of(PairsExperiment(SPEC, pairs=4), 3, "numba"), RunKey.of(PairsExperiment(SPEC, pairs=3), 4, "numba"),
              RunKey.of(PairsExperiment(SPEC, pairs=3), 3, "torch"),
              RunKey.of(PairsExperiment(SPEC, pairs=3, bn_backward="through"), 3, "numba"),
              RunKey.of(PairsExperiment(SPEC, "path", pairs=3), 3, "numba")]
    assert len({a, *others}) == 6
    # the path model has no batch statistics to differentiate: bn-backward does not split its runs
    assert RunKey.of(PairsExperiment(SPEC, "path", pairs=3, bn_backward="through"), 3, "numba") == others[-1]
    assert len(engine_version()) == 16 and engine_version() == a.code_version


def test_default_path_follows_env_and_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("SHATTERED_GRADIENTS_STORE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_store_path() == tmp_path / "shattered-gradients" / "results.sqlite"
    monkeypatch.setenv("SHATTERED_GRADIENTS_STORE", str(tmp_path / "x.sqlite"))
    assert default_store_path() == tmp_path / "x.sqlite"


def test_plan_reuses_the_most_stored_networks():
    assert plan_chunks(10, 4) == [Segment(0, 4, False), Segment(4, 8, False), Segment(8, 10, False)]
    # stored [0,4),[4,8) and a longer [0,6): the tiling that computes least is the 4-chunks
    assert plan_chunks(8, 4, [(0, 4), (4, 8), (0, 6)]) == [Segment(0, 4, True), Segment(4, 8, True)]
    # gaps are cut at multiples of the chunk size; chunks beyond nets are ignored
    assert plan_chunks(12, 4, [(0, 3), (10, 16)]) == [Segment(0, 3, True), Segment(3, 4, False),
                                                       Segment(4, 8, False), Segment(8, 12, False)]


# ----------------------------------------------------------------------------- stored runs
def test_stored_run_equals_in_process_and_second_run_computes_nothing(tmp_path):
    path = tmp_path / "r.sqlite"
    states, tick = _counter()
    first = estimate(SPEC, chunk=3, store=path, progress=tick, **RUN)
    assert _dump(first) == _reference()
    assert states[-1] == (4, 0, 4)
    states, tick = _counter()
    second = estimate(SPEC, chunk=3, store=path, progress=tick, **RUN)
    assert states[-1] == (4, 4, 0) and _dump(second) == _reference()
    # another chunk size reuses the same chunks; more networks compute only the new ones
    states, tick = _counter()
    assert _dump(estimate(SPEC, chunk=4, store=path, progress=tick, **RUN)) == _reference()
    assert states[-1][2] == 0
    states, tick = _counter()
    more = estimate(SPEC, chunk=3, store=path, progress=tick, **dict(RUN, nets=14))
    assert _dump(more) == _dump(typical_pairs(SPEC, **dict(RUN, nets=14)))
    assert states[-1][1:] == (4, 2)
    with Store(path) as store:  # reports: a finished result, rebuilt from chunks only
        [run] = store.runs()
        assert run.finished == (10, 14)
        assert _dump(load_result(store, run.id, 10)) == _reference()
        assert [r["nets"] for r in store.results()] == [10, 14]


def test_grid_and_shallow_stored_runs_are_bit_identical(tmp_path):
    path = tmp_path / "g.sqlite"
    for spec, model in ((FeedforwardSpec(depth=3, width=10, norm="center"), "real"),
                        (ResnetSpec(depth=3, width=10), "path"), (ShallowSpec(width=20), "real")):
        ref = grid(spec, model=model, nets=5, seed=2, points=32, max_lag=8)
        for _ in range(2):  # computed, then reused
            got = estimate(spec, "grid", model=model, nets=5, seed=2, chunk=2, points=32, max_lag=8, store=path)
            assert _dump(got) == _dump(ref)
            assert np.array_equal(got.covariance_matrix, ref.covariance_matrix)
            assert np.array_equal(got.run_length_counts, ref.run_length_counts)
            assert np.array_equal(got.activation_levels, ref.activation_levels)


def test_another_code_version_is_not_reused(tmp_path, monkeypatch):
    path = tmp_path / "v.sqlite"
    estimate(SPEC, chunk=5, store=path, **RUN)
    for module in (runner, chunks):  # the client and the chunk computation both see the other version
        monkeypatch.setattr(module, "engine_version", lambda: "0123456789abcdef")
    states, tick = _counter()
    assert _dump(estimate(SPEC, chunk=5, store=path, progress=tick, **RUN)) == _reference()
    assert states[-1] == (2, 0, 2)
    with Store(path) as store:
        assert len(store.runs()) == 2


def test_bad_arguments_name_themselves(tmp_path):
    with pytest.raises(ValueError, match="chunk=0 is not allowed"):
        estimate(SPEC, chunk=0, **RUN)
    with pytest.raises(ValueError, match="experiment='fig9' is not allowed"):
        estimate(SPEC, "fig9", **RUN)
    with pytest.raises(ValueError, match="points=3 is not allowed: not an option of experiment pairs"):
        estimate(SPEC, points=3, **RUN)
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- kill -9, concurrency
_SCRIPT = textwrap.dedent("""
    import json, sys, time
    from montecarlo.runner import estimate
    from theory.specs import ResnetSpec
    nets, delay = int(sys.argv[2]), float(sys.argv[3])
    result = estimate(ResnetSpec(depth=4, width=12, beta=0.5, norm="bn"), nets=nets, seed=3, pairs=3, chunk=1,
                      store=sys.argv[1], progress=lambda state: time.sleep(delay))
    print(json.dumps(result.to_dict()))
""")


def _start(tmp_path: Path, store: Path, nets: int, delay: float) -> subprocess.Popen:
    script = tmp_path / "run_stored.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, str(script), str(store), str(nets), str(delay)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stored_chunks(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with Store(path) as store:
            return sum(r.chunks for r in store.runs())
    except StoreError:
        return 0


def test_killed_run_resumes_to_the_uninterrupted_numbers(tmp_path):
    path = tmp_path / "k.sqlite"
    proc = _start(tmp_path, path, 10, 0.25)
    deadline = time.monotonic() + 60
    while _stored_chunks(path) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    done = _stored_chunks(path)
    assert 2 <= done < 10, done
    states, tick = _counter()
    resumed = estimate(SPEC, chunk=1, store=path, progress=tick, **RUN)
    assert states[-1][1] >= done and states[-1][1] + states[-1][2] == 10
    uninterrupted = typical_pairs(SPEC, **RUN)
    assert _dump(resumed) == _dump(uninterrupted)
    for a, b in zip(resumed.correlation + resumed.variance, uninterrupted.correlation + uninterrupted.variance):
        assert (a.mean, a.stderr) == (b.mean, b.stderr)


def test_two_processes_write_one_store_concurrently(tmp_path):
    path = tmp_path / "c.sqlite"  # neither process finds it: both race to create it too
    procs = [_start(tmp_path, path, 10, 0.15), _start(tmp_path, path, 12, 0.1)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert json.loads(outs[0][0]) == typical_pairs(SPEC, **RUN).to_dict()
    assert json.loads(outs[1][0]) == typical_pairs(SPEC, **dict(RUN, nets=12)).to_dict()
    with Store(path) as store:
        [run] = store.runs()
        assert run.contiguous == 12 and run.finished == (10, 12)
        # Which process stores a given chunk first depends on scheduling (the other's insert is
        # then ignored, or it reuses the chunk), so the number of distinct writers is not asserted.
    states, tick = _counter()
    estimate(SPEC, chunk=1, store=path, progress=tick, **dict(RUN, nets=12))
    assert states[-1][2] == 0


# ----------------------------------------------------------------------------- corrupt / incompatible
def _filled_store(path: Path) -> None:
    estimate(SPEC, chunk=2, store=path, **RUN)


def _expect_refusal(path: Path, needle: str) -> None:
    before = path.read_bytes()
    with pytest.raises(StoreError) as info:
        estimate(SPEC, chunk=2, store=path, **RUN)
    message = str(info.value)
    assert str(path) in message and needle in message
    assert "move it aside" in message or "--store NEW_PATH" in message
    assert path.read_bytes() == before


def test_random_bytes_are_not_a_store(tmp_path):
    path = tmp_path / "random.sqlite"
    path.write_bytes(np.random.default_rng(1).bytes(5000))
    _expect_refusal(path, "not a results store")


def test_truncated_store_is_corrupt(tmp_path):
    path = tmp_path / "t.sqlite"
    _filled_store(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _expect_refusal(path, "corrupt")


def test_a_store_growing_under_a_checkpoint_is_read_again_not_called_corrupt(tmp_path):
    """With a -wal file beside it, a file shorter than its header says (a checkpoint that wrote page 1
    first) is read again; once it has grown, it opens.  Without a -wal file it is corrupt at once."""
    import threading
    import time
    path = tmp_path / "g.sqlite"
    _filled_store(path)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    wal = tmp_path / "g.sqlite-wal"
    wal.write_bytes(b"")

    def grow():
        time.sleep(0.2)
        path.write_bytes(whole)
    thread = threading.Thread(target=grow)
    thread.start()
    with Store(path) as store:                  # waited for the file to grow
        assert store.runs()
    thread.join()
    wal.unlink(missing_ok=True)
    path.write_bytes(whole[: len(whole) // 2])
    _expect_refusal(path, "corrupt")


def test_one_store_serves_many_threads(tmp_path):
    """Groups sampled side by side share one Store: concurrent writes and reads all land."""
    from concurrent.futures import ThreadPoolExecutor
    exp = PairsExperiment(SPEC, pairs=3)
    keys = [RunKey.of(exp, seed, "numba") for seed in range(4)]
    rows = np.random.default_rng(1).standard_normal((2, exp.width()))
    with Store(tmp_path / "m.sqlite") as store:
        def fill(key):
            for start in range(0, 40, 2):
                store.put_chunk(key, start, start + 2, rows + start)
                assert np.array_equal(store.load_chunk(key, start, start + 2, exp.width()), rows + start)
            return store.chunk_ranges(key)
        with ThreadPoolExecutor(4) as pool:
            ranges = list(pool.map(fill, keys))
    assert all(r == [(a, a + 2) for a in range(0, 40, 2)] for r in ranges)


def test_failed_checksum_is_corrupt_and_nothing_is_written(tmp_path):
    path = tmp_path / "b.sqlite"
    _filled_store(path)
    with sqlite3.connect(path) as db:  # flip one byte of one stored chunk
        blob = bytearray(db.execute("SELECT summaries FROM chunks WHERE start = 4").fetchone()[0])
        blob[-3] ^= 0xFF
        db.execute("UPDATE chunks SET summaries = ? WHERE start = 4", (bytes(blob),))
    db.close()
    _expect_refusal(path, "chunk [4, 6) of run #1 fails its SHA-256 checksum")


def test_incompatible_schema_and_foreign_database(tmp_path):
    path = tmp_path / "s.sqlite"
    _filled_store(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    db.close()
    _expect_refusal(path, "schema version 999")
    foreign = tmp_path / "f.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE photos (id INTEGER)")
    db.close()
    _expect_refusal(foreign, "not a results store")


def test_an_empty_file_becomes_a_store(tmp_path):
    path = tmp_path / "empty.sqlite"
    path.touch()
    assert _dump(estimate(SPEC, chunk=5, store=path, **RUN)) == _reference()


def test_cli_corrupt_store_exits_2_and_keeps_the_file(tmp_path, capsys):
    from montecarlo.cli import main
    path = tmp_path / "bad.sqlite"
    path.write_bytes(b"not a database at all" * 50)
    before = path.read_bytes()
    code = main(["ff", "--depth", "2", "--width", "8", "--nets", "4", "--pairs", "2", "--store", str(path), "--json"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert str(path) in captured.err and "--store NEW_PATH" in captured.err
    assert path.read_bytes() == before


def test_cli_store_reuse_and_no_store(tmp_path, capsys):
    from montecarlo.cli import main
    args = ["resnet", "--depth", "4", "--width", "12", "--beta", "0.5", "--norm", "bn", "--nets", "10",
            "--seed", "3", "--pairs", "3", "--batch", "3", "--json"]
    path = tmp_path / "cli.sqlite"
    outs = []
    for extra in (["--store", str(path)], ["--store", str(path)], ["--no-store"]):
        assert main(args + extra) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] == outs[2]
    assert json.loads(outs[0])["correlation"] == typical_pairs(SPEC, **RUN).to_dict()["correlation"]
    with Store(path) as store:
        assert store.runs()[0].chunks == 4


def test_a_fresh_process_computes_the_same_chunk_bytes(tmp_path):
    """A resumed run or a worker computes chunks in a fresh process; they must be this process's bytes.

    Regression: the numba kernel's OpenBLAS thread-count race made the first chunk of a fresh
    process round differently at N = 200 (see observables._pin_blas_to_one_thread).
    """
    script = tmp_path / "chunks.py"
    script.write_text(textwrap.dedent("""
        import sys, numpy as np
        from montecarlo.observables import PairsExperiment
        from theory.specs import ResnetSpec
        e = PairsExperiment(ResnetSpec(depth=20, width=200, beta=1.0))
        np.save(sys.argv[1], np.stack([e.summaries(0, range(a, a + 4), "numba") for a in (0, 4)]))
    """))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for k in range(2):
        subprocess.run([sys.executable, str(script), str(tmp_path / f"fresh{k}.npy")], cwd=ROOT, env=env,
                       check=True, timeout=120)
    e = PairsExperiment(ResnetSpec(depth=20, width=200, beta=1.0))
    here = np.stack([e.summaries(0, range(a, a + 4), "numba") for a in (0, 4)])
    for k in range(2):
        assert np.array_equal(np.load(tmp_path / f"fresh{k}.npy"), here)


# ----------------------------------------------------------------------------- documents
def test_documents_written_once_read_back_and_checked(tmp_path):
    path = tmp_path / "docs.sqlite"
    with Store(path) as store:
        assert store.documents("fig5") == []  # a store without the documents table reads as empty
        assert store.put_document("fig5", {"seed": 1, "depths": [2, 4]}, {"value": 0.5}, "v1")
        # same kind, key and version: never replaced
        assert not store.put_document("fig5", {"depths": [2, 4], "seed": 1}, {"value": 9.0}, "v1")
        assert store.put_document("fig5", {"seed": 1, "depths": [2, 4]}, {"value": 0.7}, "v2")
        assert store.put_document("train", {"seed": 1}, {"curve": [1, 2]}, "v1")
    with Store(path) as store:
        docs = store.documents("fig5")
        assert [d["document"]["value"] for d in docs] == [0.5, 0.7]
        assert docs[0]["key"] == {"seed": 1, "depths": [2, 4]}
        assert [d["code_version"] for d in store.documents("fig5", "v2")] == ["v2"]
        assert store.documents("train")[0]["document"] == {"curve": [1, 2]}
        store.db.execute("UPDATE documents SET document = '{\"value\": 0.6}' WHERE kind = 'fig5' AND code_version = 'v1'")
        with pytest.raises(StoreError, match="checksum"):
            store.documents("fig5")
    with Store(path) as store:
        with pytest.raises(ValueError, match="kind"):
            store.put_document("", {"a": 1}, {}, "v1")


def test_source_version_tracks_the_files():
    from montecarlo.store import source_version
    a = source_version(("montecarlo/convnets/*.py",))
    assert len(a) == 16 and a == source_version(("montecarlo/convnets/*.py",))
    assert a != source_version(("montecarlo/store.py",))
