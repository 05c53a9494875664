"""The results store: every Monte Carlo chunk, written as it completes, in one SQLite file.

**What is stored.**  A *chunk* is the per-network summary rows (float64, one row per network,
see :mod:`montecarlo.observables`) of networks ``[start, stop)`` of one *run key*:

    (spec, experiment, options, observables, seed, code version)

* ``spec``: the canonical JSON of :meth:`theory.specs.NetworkSpec.to_dict` (sorted keys, no
  spaces; floats in Python's shortest round-trip form);
* ``experiment``: ``pairs`` or ``grid``; ``options``: the canonical JSON of the experiment's
  resolved options (model, pairs or points/max_lag/bias_std/level_bins, bn-backward) plus the
  backend (float32 kernels differ from the float64 reference in the last bits);
* ``observables``: the summary layout (e.g. ``A,C|active,coactive``);
* ``code version``: :func:`engine_version`, a hash of the engine's source files and numeric
  libraries.  Results of another version are never reused (they stay in the file, unread).

A row's bytes are ``numpy.save`` of the (stop − start, width) float64 array, stored with its
SHA-256; every read checks it.  Runs that finish also store their JSON document (``results``
table) so that reports can list and read them without recomputing anything.

**Code version: a hash, not a constant.**  A hand-bumped ``ENGINE_VERSION`` is forgotten the
day a kernel changes by one rounding, and stale numbers would then be reused silently.  The hash
covers :data:`ENGINE_SOURCES` (kernels, sampling, plan compilation, summaries and the forward
variances of :mod:`theory.pathsum` that the plan rescales by) and the versions of numpy, numba
and torch.  The price: editing a docstring in those files starts a fresh cache.

**Safety.**  Each chunk is its own transaction (``BEGIN IMMEDIATE`` … ``COMMIT``), so a process
killed at any moment (kill -9) leaves every completed chunk and nothing half-written.  The file
is in WAL mode with a busy timeout, so several processes can write one store at once; chunks
have a unique key and are written with ``INSERT OR IGNORE`` (a chunk computed twice is
harmless: it is the same bytes).  A new store is built in a temporary file and linked into place
(``os.link`` never replaces an existing file).  A file that is not a results store, is corrupt
(SQLite error, truncated, failed checksum) or has another schema version raises
:class:`StoreError` naming the path and what to do; this module never overwrites, repairs or
deletes a store, and it checks every stored chunk a run will use before it writes anything.

**Documents.**  Experiments that are not streams of per-network rows (the CIFAR-10 convnet
runs, training curves, one network's gate raster for Fig. 4) store one JSON *document* each
under ``(kind, key, code version)`` (:meth:`Store.put_document`): the key is the canonical JSON
of everything that determines the document, the code version a hash of the sources that compute
it (:func:`source_version`).  A document is written once and never replaced; reading checks its
SHA-256.  The ``documents`` table is created the first time one is written (a store written
before it existed stays readable and keeps schema version 1).

Default location: ``$SHATTERED_GRADIENTS_STORE``, else ``$XDG_CACHE_HOME/shattered-gradients/
results.sqlite``, else ``~/.cache/shattered-gradients/results.sqlite``.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import io
import json
import os
import socket
import sqlite3
import struct
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import numpy as np

SCHEMA_VERSION = 1
APPLICATION = "shattered-gradients results store"
APPLICATION_ID = 0x53475244  # "SGRD", in the SQLite header (PRAGMA application_id)
ENV_VAR = "SHATTERED_GRADIENTS_STORE"
#: files (relative to the project root) whose bytes define the code version
ENGINE_SOURCES = ("kernels/*.py", "montecarlo/sampling.py", "montecarlo/networks.py",
                  "montecarlo/observables.py", "theory/pathsum.py")
ENGINE_LIBRARIES = ("numpy", "numba", "torch")
BUSY_TIMEOUT_S = 120.0
_SQLITE_MAGIC = b"SQLite format 3\x00"
_ROOT = Path(__file__).resolve().parents[1]

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    spec TEXT NOT NULL, experiment TEXT NOT NULL, options TEXT NOT NULL,
    observables TEXT NOT NULL, seed INTEGER NOT NULL, code_version TEXT NOT NULL,
    created TEXT NOT NULL,
    UNIQUE (spec, experiment, options, observables, seed, code_version));
CREATE TABLE chunks (
    run_id INTEGER NOT NULL REFERENCES runs (id), start INTEGER NOT NULL, stop INTEGER NOT NULL,
    summaries BLOB NOT NULL, sha256 TEXT NOT NULL, seconds REAL, worker TEXT,
    created TEXT NOT NULL,
    PRIMARY KEY (run_id, start, stop), CHECK (0 <= start AND start < stop));
CREATE TABLE results (
    run_id INTEGER NOT NULL REFERENCES runs (id), nets INTEGER NOT NULL, document TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (run_id, nets));
"""
_DOCUMENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL, key TEXT NOT NULL, code_version TEXT NOT NULL,
    document TEXT NOT NULL, sha256 TEXT NOT NULL, created TEXT NOT NULL,
    UNIQUE (kind, key, code_version))
"""


class StoreError(Exception):
    """The results store at ``path`` cannot be used; the message says why and what to do."""

    def __init__(self, path: str | os.PathLike, problem: str, advice: str | None = None):
        self.path = str(path)
        advice = advice or (f"the file was left untouched: move it aside (e.g. mv {self.path} "
                            f"{self.path}.bad) or pass --store NEW_PATH (or --no-store)")
        super().__init__(f"results store {self.path}: {problem}; {advice}")


def default_store_path() -> Path:
    """``$SHATTERED_GRADIENTS_STORE``, else the user's cache dir ``/shattered-gradients/results.sqlite``."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "shattered-gradients" / "results.sqlite"


@functools.lru_cache(maxsize=1)
def engine_version() -> str:
    """SHA-256 (16 hex digits) of :data:`ENGINE_SOURCES`, the versions of :data:`ENGINE_LIBRARIES`
    and the BLAS the forward-mode kernel multiplies with (:func:`kernels.sgemm.choice`: MKL and
    OpenBLAS round differently, so their results are not mixed)."""
    from kernels import sgemm
    h = hashlib.sha256(f"{source_version(ENGINE_SOURCES, ENGINE_LIBRARIES)}\0blas={sgemm.choice()}".encode())
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def source_version(sources: tuple[str, ...], libraries: tuple[str, ...] = ENGINE_LIBRARIES) -> str:
    """SHA-256 (16 hex digits) of the files matching ``sources`` (globs relative to the project
    root) and the installed versions of ``libraries``: the code version of a stored document."""
    h = hashlib.sha256()
    files = sorted({p for pattern in sources for p in _ROOT.glob(pattern)})
    for path in files:
        h.update(path.relative_to(_ROOT).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    for lib in libraries:
        try:
            version = metadata.version(lib)
        except metadata.PackageNotFoundError:
            version = "absent"
        h.update(f"{lib}=={version}\0".encode())
    return h.hexdigest()[:16]


def canonical_json(value: Any) -> str:
    """The one JSON text of ``value`` used in keys: sorted keys, no spaces, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class RunKey:
    """Everything but the network range that determines a chunk's bytes (see the module doc)."""

    spec: str
    experiment: str
    options: str
    observables: str
    seed: int
    code_version: str

    @classmethod
    def of(cls, experiment, seed: int, backend: str, code_version: str | None = None) -> "RunKey":
        """The key of ``experiment`` (a :mod:`montecarlo.observables` experiment) run with ``seed`` on ``backend``."""
        options = dict(experiment.options(), backend=backend)
        return cls(canonical_json(experiment.spec.to_dict()), experiment.name, canonical_json(options),
                   experiment.observables, int(seed), code_version or engine_version())

    def fields(self) -> tuple:
        return (self.spec, self.experiment, self.options, self.observables, self.seed, self.code_version)

    def digest(self) -> str:
        return hashlib.sha256("\0".join(map(str, self.fields())).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class StoredRun:
    """One run key in the store, with what it holds (for listings and reports)."""

    id: int
    key: RunKey
    created: str
    chunks: int
    networks: int          # networks stored (the union of the chunks' ranges)
    contiguous: int        # networks 0..contiguous−1 are all stored
    finished: tuple[int, ...]  # ``nets`` of the runs that completed and stored their result

    @property
    def spec(self) -> dict:
        return json.loads(self.key.spec)

    @property
    def options(self) -> dict:
        return json.loads(self.key.options)


def encode_rows(rows: np.ndarray) -> tuple[bytes, str]:
    """``numpy.save`` bytes of a float64 array and their SHA-256."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(rows, dtype=np.float64), allow_pickle=False)
    blob = buf.getvalue()
    return blob, hashlib.sha256(blob).hexdigest()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Store:
    """An open results store (see the module doc).  Use as a context manager or call :meth:`close`.

    ``Store(path)`` creates the file (and its directories) when it does not exist; an existing
    file must be a results store of schema version :data:`SCHEMA_VERSION`.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, timeout: float = BUSY_TIMEOUT_S):
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.timeout = timeout
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()   # one connection, shared by the threads of a run (see _guard)
        self._run_ids: dict[RunKey, int] = {}
        if not self.path.exists() and not self.path.is_symlink():
            self._create()
        self._open()

    # ------------------------------------------------------------------ opening
    def _connect(self, path: Path, mode: str) -> sqlite3.Connection:
        db = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode={mode}", uri=True,
                             timeout=self.timeout, isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        return db

    def _create(self) -> None:
        """Build an empty store in a temporary file, then link it into place (never replaces a file)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(self.path, f"cannot create its directory ({err})",
                             "pass --store with a writable path (or --no-store)") from None
        if not os.access(self.path.parent, os.W_OK):
            raise StoreError(self.path, f"cannot be created: there is no permission to write in its folder "
                                        f"{self.path.parent}",
                             "pass --store PATH in a folder you may write to, or set "
                             f"${ENV_VAR} (or --no-store)")
        tmp = self.path.with_name(f".{self.path.name}.new-{os.getpid()}-{id(self)}")
        try:
            db = self._connect(tmp, "rwc")
            try:
                db.execute("PRAGMA journal_mode = WAL")
                self._init_schema(db)
            finally:
                db.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process created it first: open theirs
        except (OSError, sqlite3.Error) as err:
            raise StoreError(self.path, f"cannot create it ({err})",
                             "pass --store with a writable path (or --no-store)") from None
        finally:
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.unlink(f"{tmp}{suffix}")
                except FileNotFoundError:
                    pass

    @staticmethod
    def _init_schema(db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.executemany("INSERT INTO meta VALUES (?, ?)",
                               [("application", APPLICATION), ("schema_version", str(SCHEMA_VERSION)),
                                ("created", _now())])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _check_header(self, patience_s: float = 2.0) -> None:
        """Reject, before SQLite touches it, a file that is not an SQLite database or is truncated.

        While another connection checkpoints its write-ahead log, page 1 (with the new size) can reach
        the file before the pages that grow it: with a ``-wal`` file beside it, an apparent truncation is
        read again for up to ``patience_s`` before it is called corrupt.
        """
        deadline = time.monotonic() + patience_s
        while True:
            try:
                self._check_header_once()
                return
            except StoreError as err:
                wal = Path(str(self.path) + "-wal")
                if "truncated" not in str(err) or not wal.exists() or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _check_header_once(self) -> None:
        if self.path.is_dir():
            raise StoreError(self.path, "is a directory, not a results store",
                             "pass --store with a file path (or --no-store)")
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as f:
                head = f.read(100)
        except OSError as err:
            raise StoreError(self.path, f"cannot be read ({err})",
                             "check its permissions or pass --store NEW_PATH") from None
        if size == 0:
            return  # an empty file (e.g. from mktemp): becomes a new store, nothing to lose
        if len(head) < 100 or head[:16] != _SQLITE_MAGIC:
            raise StoreError(self.path, "is not a results store (not an SQLite database)")
        page_size = struct.unpack(">H", head[16:18])[0]
        page_size = 65536 if page_size == 1 else page_size
        change_counter, pages = struct.unpack(">II", head[24:32])
        valid_for = struct.unpack(">I", head[92:96])[0]
        if valid_for == change_counter and pages and size < pages * page_size:
            raise StoreError(self.path, f"is corrupt: truncated to {size} bytes, its header says "
                                        f"{pages * page_size}")
        app_id = struct.unpack(">i", head[68:72])[0] & 0xFFFFFFFF
        if app_id not in (0, APPLICATION_ID):
            raise StoreError(self.path, f"is an SQLite database of another application "
                                        f"(application_id {app_id:#x}), not a results store")

    def _open(self) -> None:
        self._check_header()
        with self._guard("opening it"):
            db = self._connect(self.path, "rw")
            self._db = db
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables:
                self._init_schema(db)  # a new store (empty file, or created but not yet filled)
                tables = {"meta"}
            if "meta" not in tables:
                raise StoreError(self.path, "is an SQLite database but not a results store (no meta table)")
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("application") != APPLICATION:
                raise StoreError(self.path, "is an SQLite database but not a results store "
                                            f"(application={meta.get('application')!r})")
            version = meta.get("schema_version")
            if version != str(SCHEMA_VERSION):
                raise StoreError(self.path, f"has schema version {version}, this tool reads version "
                                            f"{SCHEMA_VERSION} (incompatible)",
                                 "the file was left untouched: keep it for the tool version that "
                                 "wrote it and pass --store NEW_PATH (or move it aside)")
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode = WAL")

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Turn SQLite errors into :class:`StoreError` naming the path (a locked store is not corrupt).

        Every use of the connection goes through here, under the store's lock: the threads of one run
        (groups sampled side by side, the Monte Carlo beside the symbolic checks) share one connection,
        one statement or transaction at a time.  (A connection per thread raced: opening one while
        another committed could read a header that a checkpoint had written before the file grew.)
        """
        with self._lock:
            try:
                yield
            except StoreError:
                self.close()
                raise
            except sqlite3.OperationalError as err:
                text = str(err)
                if "locked" in text or "busy" in text:
                    raise StoreError(self.path, f"stayed locked by another process for {self.timeout:.0f} s "
                                                f"while {doing} ({text})",
                                     "retry when the other run has finished, or pass --store NEW_PATH") from None
                if "full" in text:  # SQLITE_FULL: the transaction was rolled back, earlier ones are intact
                    self.close()
                    raise StoreError(self.path, f"could not be written while {doing}: the disk is full ({text})",
                                     "everything stored before is intact; free some space on that disk, or pass "
                                     "--store PATH on another disk (or --no-store)") from None
                if "readonly" in text or "unable to open" in text:
                    folder = self.path.absolute().parent
                    why = (f"; there is no permission to write in its folder {folder} (SQLite keeps its journal "
                           "beside it)" if folder.is_dir() and not os.access(folder, os.W_OK) else "")
                    raise StoreError(self.path, f"cannot be written while {doing} ({text}){why}",
                                     "check its permissions or pass --store NEW_PATH (or --no-store)") from None
                self.close()
                raise StoreError(self.path, f"is corrupt or not a results store (sqlite: {text})") from None
            except sqlite3.DatabaseError as err:
                self.close()
                raise StoreError(self.path, f"is corrupt or not a results store (sqlite: {err})") from None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                try:
                    self._db.close()
                finally:
                    self._db = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(self.path, "is closed", "open it again with Store(path)")
        return self._db

    @contextmanager
    def _write(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._guard(doing):
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                try:  # a failed COMMIT (e.g. a full disk) may already have rolled back
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise

    # ------------------------------------------------------------------ runs and chunks
    def run_id(self, key: RunKey, *, create: bool = False) -> int | None:
        """The id of ``key``'s run (made when ``create``), or None when the store has none."""
        if key in self._run_ids:
            return self._run_ids[key]
        where = ("SELECT id FROM runs WHERE spec = ? AND experiment = ? AND options = ? AND "
                 "observables = ? AND seed = ? AND code_version = ?")
        with self._guard("looking up a run"):
            row = self.db.execute(where, key.fields()).fetchone()
        if row is None and create:
            with self._write("registering a run") as db:
                db.execute("INSERT OR IGNORE INTO runs (spec, experiment, options, observables, seed, "
                           "code_version, created) VALUES (?, ?, ?, ?, ?, ?, ?)", (*key.fields(), _now()))
                row = db.execute(where, key.fields()).fetchone()
        if row is None:
            return None
        self._run_ids[key] = int(row[0])
        return int(row[0])

    def chunk_ranges(self, key: RunKey) -> list[tuple[int, int]]:
        """The ``(start, stop)`` of every chunk stored under ``key``, sorted."""
        run = self.run_id(key)
        if run is None:
            return []
        with self._guard("listing chunks"):
            rows = self.db.execute("SELECT start, stop FROM chunks WHERE run_id = ? ORDER BY start, stop",
                                   (run,)).fetchall()
        return [(int(a), int(b)) for a, b in rows]

    def put_chunk(self, key: RunKey, start: int, stop: int, rows: np.ndarray, *,
                  seconds: float | None = None, worker: str | None = None) -> bool:
        """Write one chunk in its own transaction; False when it was already there (same bytes)."""
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[0] != stop - start:
            raise ValueError(f"rows of shape {rows.shape} do not fit networks [{start}, {stop})")
        blob, digest = encode_rows(rows)
        run = self.run_id(key, create=True)
        with self._write(f"writing chunk [{start}, {stop})") as db:
            cur = db.execute("INSERT OR IGNORE INTO chunks (run_id, start, stop, summaries, sha256, seconds, "
                             "worker, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (run, int(start), int(stop), blob, digest, seconds,
                              worker or f"{socket.gethostname()}:{os.getpid()}", _now()))
            return cur.rowcount == 1

    def load_chunk(self, key: RunKey, start: int, stop: int, width: int | None = None) -> np.ndarray:
        """The rows of chunk ``[start, stop)``, checked against their SHA-256 (and ``width`` columns)."""
        run = self.run_id(key)
        with self._guard(f"reading chunk [{start}, {stop})"):
            row = None if run is None else self.db.execute(
                "SELECT summaries, sha256 FROM chunks WHERE run_id = ? AND start = ? AND stop = ?",
                (run, start, stop)).fetchone()
        if row is None:
            raise KeyError(f"chunk [{start}, {stop}) of run {key.digest()} is not in {self.path}")
        blob, digest = bytes(row[0]), row[1]
        where = f"chunk [{start}, {stop}) of run #{run}"
        if hashlib.sha256(blob).hexdigest() != digest:
            raise StoreError(self.path, f"is corrupt: {where} fails its SHA-256 checksum")
        try:
            rows = np.load(io.BytesIO(blob), allow_pickle=False)
        except Exception as err:  # noqa: BLE001 — any decoding failure is corruption
            raise StoreError(self.path, f"is corrupt: {where} does not decode ({err})") from None
        if rows.dtype != np.float64 or rows.ndim != 2 or rows.shape[0] != stop - start or \
                (width is not None and rows.shape[1] != width):
            raise StoreError(self.path, f"is corrupt: {where} holds a {rows.dtype} array of shape "
                                        f"{rows.shape}, expected ({stop - start}, {width}) float64")
        return rows

    def verify_chunks(self, key: RunKey, ranges, width: int | None = None) -> None:
        """Check the checksums (and shapes) of chunks ``ranges`` — done before a run writes anything."""
        for start, stop in ranges:
            self.load_chunk(key, start, stop, width)

    def put_result(self, key: RunKey, nets: int, document: dict) -> None:
        """Store a finished run's JSON document (what ``python -m montecarlo --json`` prints)."""
        run = self.run_id(key, create=True)
        with self._write("writing a result") as db:
            db.execute("INSERT OR IGNORE INTO results (run_id, nets, document, created) VALUES (?, ?, ?, ?)",
                       (run, int(nets), json.dumps(document, allow_nan=False), _now()))

    # ------------------------------------------------------------------ documents
    def _has_documents(self) -> bool:
        with self._guard("looking for documents"):
            return self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'documents'"
                                   ).fetchone() is not None

    def put_document(self, kind: str, key: dict, document: dict, code_version: str) -> bool:
        """Store ``document`` under ``(kind, key, code_version)``; False (and nothing written) when
        one is already stored there — a stored document is never replaced."""
        if not kind or not isinstance(key, dict):
            raise ValueError(f"kind={kind!r}, key={key!r}: a non-empty kind and a dict key are required")
        text = json.dumps(document, allow_nan=False, sort_keys=True)
        with self._write(f"writing a {kind} document") as db:
            db.execute(_DOCUMENTS_SCHEMA)
            cur = db.execute("INSERT OR IGNORE INTO documents (kind, key, code_version, document, sha256, created) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             (kind, canonical_json(key), code_version, text,
                              hashlib.sha256(text.encode()).hexdigest(), _now()))
            return cur.rowcount == 1

    def documents(self, kind: str, code_version: str | None = None) -> list[dict]:
        """Stored documents of ``kind`` (of one ``code_version``, or all), oldest first, each
        ``{"id", "kind", "key": {…}, "code_version", "created", "document": {…}}``; checksums checked."""
        if not self._has_documents():
            return []
        sql = "SELECT id, key, code_version, document, sha256, created FROM documents WHERE kind = ?"
        args: tuple = (kind,)
        if code_version is not None:
            sql += " AND code_version = ?"
            args += (code_version,)
        with self._guard(f"reading {kind} documents"):
            rows = self.db.execute(sql + " ORDER BY id", args).fetchall()
        out = []
        for did, key, version, text, digest, created in rows:
            if hashlib.sha256(text.encode()).hexdigest() != digest:
                raise StoreError(self.path, f"is corrupt: {kind} document #{did} fails its SHA-256 checksum")
            try:
                out.append({"id": did, "kind": kind, "key": json.loads(key), "code_version": version,
                            "created": created, "document": json.loads(text)})
            except json.JSONDecodeError as err:
                raise StoreError(self.path, f"is corrupt: {kind} document #{did} does not decode ({err})") from None
        return out

    # ------------------------------------------------------------------ reading, for reports
    def runs(self) -> list[StoredRun]:
        """Every run key in the store with its chunk count, coverage and finished results."""
        with self._guard("listing runs"):
            runs = self.db.execute("SELECT id, spec, experiment, options, observables, seed, code_version, "
                                   "created FROM runs ORDER BY id").fetchall()
            chunks = self.db.execute("SELECT run_id, start, stop FROM chunks ORDER BY run_id, start").fetchall()
            done = self.db.execute("SELECT run_id, nets FROM results ORDER BY run_id, nets").fetchall()
        by_run: dict[int, list[tuple[int, int]]] = {}
        for run, a, b in chunks:
            by_run.setdefault(run, []).append((a, b))
        finished: dict[int, list[int]] = {}
        for run, nets in done:
            finished.setdefault(run, []).append(nets)
        out = []
        for rid, spec, exp, opts, obs, seed, version, created in runs:
            ranges = by_run.get(rid, [])
            covered = set()
            for a, b in ranges:
                covered.update(range(a, b))
            contiguous = 0
            while contiguous in covered:
                contiguous += 1
            out.append(StoredRun(rid, RunKey(spec, exp, opts, obs, seed, version), created, len(ranges),
                                 len(covered), contiguous, tuple(finished.get(rid, ()))))
        return out

    def results(self, run: int | None = None) -> list[dict]:
        """Stored JSON documents of finished runs (all, or those of run id ``run``), oldest first.

        Each is ``{"run": id, "nets": S, "code_version": …, "current": bool, "document": {…}}``;
        ``current`` says whether it was computed by this code version.
        """
        sql = ("SELECT r.id, r.code_version, s.nets, s.document FROM results s JOIN runs r ON r.id = s.run_id"
               + (" WHERE r.id = ?" if run is not None else "") + " ORDER BY s.created, r.id, s.nets")
        with self._guard("reading results"):
            rows = self.db.execute(sql, () if run is None else (run,)).fetchall()
        return [{"run": rid, "nets": nets, "code_version": version, "current": version == engine_version(),
                 "document": json.loads(doc)} for rid, version, nets, doc in rows]


def open_store(store: "Store | str | os.PathLike | None") -> tuple[Store | None, bool]:
    """``(Store, owned)`` for a Store, a path or None (no store); ``owned``: the caller must close it."""
    if store is None or isinstance(store, Store):
        return store, False
    return Store(store), True
