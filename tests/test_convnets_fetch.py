"""``python -m montecarlo.convnets.data fetch`` against a local HTTP server, and where the data is read.

The server (127.0.0.1, an ephemeral port, in a thread) serves a small synthetic archive in the real
format: ``cifar-10-batches-py/data_batch_1..5``, ``test_batch`` (pickled dicts with ``b'data'``
uint8 (N, 3072) and ``b'labels'``) and ``batches.meta``.
"""
import hashlib
import http.server
import io
import pickle
import tarfile
import threading

import numpy as np
import pytest

from montecarlo.convnets import data
from montecarlo.convnets.data import CIFAR10Error, load_cifar10, main, resolve_data_path
from montecarlo.convnets.fetch import COMPLETE_FILES, FOLDER

IMAGES = 6


def _batch(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return pickle.dumps({b"data": rng.integers(0, 256, (IMAGES, 3072), dtype=np.uint8),
                         b"labels": [int(x) for x in rng.integers(0, 10, IMAGES)],
                         b"batch_label": b"synthetic"}, protocol=2)


def _archive(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def _cifar_members() -> dict[str, bytes]:
    members = {f"{FOLDER}/data_batch_{k}": _batch(k) for k in range(1, 6)}
    members[f"{FOLDER}/test_batch"] = _batch(9)
    members[f"{FOLDER}/batches.meta"] = pickle.dumps({b"label_names": [b"c%d" % k for k in range(10)]})
    return members


GOOD = _archive(_cifar_members())
UNSAFE = _archive({**_cifar_members(), "../escaped": b"x"})
GARBAGE = b"this is not a tar.gz archive" * 50


def md5(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    hits: list = []

    def do_GET(self):  # noqa: N802 — the http.server interface
        self.hits.append(self.path)
        if self.path not in self.routes:
            self.send_error(404, "Not Found")
            return
        body, announced = self.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(announced))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def server():
    _Handler.routes = {"/good.tar.gz": (GOOD, len(GOOD)),
                       "/truncated.tar.gz": (GOOD[: len(GOOD) // 2], len(GOOD)),  # the body ends early
                       "/garbage.tar.gz": (GARBAGE, len(GARBAGE)),
                       "/unsafe.tar.gz": (UNSAFE, len(UNSAFE))}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def no_data_anywhere(monkeypatch, tmp_path):
    """Nothing set, an empty user cache, no project copy: each test says where the data is."""
    for var in (data.ENV_VAR, data.LEGACY_ENV_VAR):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(data, "project_data_path", lambda: tmp_path / "shared" / "data" / FOLDER)


def fetch(*args) -> int:
    return main(["fetch", *args])


def test_right_checksum_puts_a_loadable_folder_in_place(server, tmp_path, capsys):
    target = tmp_path / "target"
    assert fetch("--dir", str(target), "--url", f"{server}/good.tar.gz", "--md5", md5(GOOD)) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(target / FOLDER) and "downloading" in err
    assert sorted(p.name for p in target.iterdir()) == [FOLDER]  # no temporary file or folder left
    assert sorted(p.name for p in (target / FOLDER).iterdir()) == sorted(COMPLETE_FILES)
    train = load_cifar10(target / FOLDER, "train")
    assert len(train) == 5 * IMAGES and train.files == tuple(f"data_batch_{k}" for k in range(1, 6))
    assert len(load_cifar10(target / FOLDER, "test")) == IMAGES


def test_default_target_is_the_user_cache_and_consumers_find_it(server, tmp_path):
    assert fetch("--url", f"{server}/good.tar.gz", "--md5", md5(GOOD)) == 0
    cached = tmp_path / "xdg-cache" / "shattered-gradients" / FOLDER
    assert resolve_data_path() == cached
    assert len(load_cifar10(split="test")) == IMAGES


@pytest.mark.parametrize("route, checksum, fragment", [
    ("/good.tar.gz", "0" * 32, "has MD5"),
    ("/truncated.tar.gz", md5(GOOD), "truncated"),
    ("/missing.tar.gz", md5(GOOD), "HTTP 404"),
    ("/garbage.tar.gz", md5(GARBAGE), "not a readable tar.gz archive"),
    ("/unsafe.tar.gz", md5(UNSAFE), "unsafe member '../escaped'"),
])
def test_a_failed_download_leaves_nothing_behind(server, tmp_path, capsys, route, checksum, fragment):
    target = tmp_path / "new" / "folder"
    assert fetch("--dir", str(target), "--url", f"{server}{route}", "--md5", checksum) == 2
    err = capsys.readouterr().err
    assert "python -m montecarlo.convnets.data: error:" in err and fragment in err
    assert "try again" in err or "check --url" in err
    assert list(tmp_path.iterdir()) == []  # not even the folders --dir named were left


def test_failure_inside_an_existing_folder_leaves_it_as_it_was(server, tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep")
    assert fetch("--dir", str(target), "--url", f"{server}/truncated.tar.gz", "--md5", md5(GOOD)) == 2
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


def test_an_existing_complete_folder_is_not_overwritten(server, tmp_path, capsys):
    target = tmp_path / "target"
    url = f"{server}/good.tar.gz"
    assert fetch("--dir", str(target), "--url", url, "--md5", md5(GOOD)) == 0
    marker = target / FOLDER / "marker"
    marker.write_text("mine")
    _Handler.hits.clear()
    capsys.readouterr()
    assert fetch("--dir", str(target), "--url", url, "--md5", md5(GOOD)) == 0
    assert "already there" in capsys.readouterr().err and _Handler.hits == [] and marker.exists()
    # --force replaces it (the new folder renamed into place, the old one deleted)
    assert fetch("--dir", str(target), "--url", url, "--md5", md5(GOOD), "--force") == 0
    assert not marker.exists() and sorted(p.name for p in target.iterdir()) == [FOLDER]
    assert len(load_cifar10(target / FOLDER, "test")) == IMAGES


def test_an_incomplete_folder_is_kept_and_named(server, tmp_path, capsys):
    (tmp_path / "target" / FOLDER).mkdir(parents=True)
    (tmp_path / "target" / FOLDER / "test_batch").write_bytes(_batch(1))
    assert fetch("--dir", str(tmp_path / "target"), "--url", f"{server}/good.tar.gz", "--md5", md5(GOOD)) == 2
    err = capsys.readouterr().err
    assert "is incomplete" in err and "data_batch_1" in err and "--force" in err
    assert [p.name for p in (tmp_path / "target" / FOLDER).iterdir()] == ["test_batch"]


def test_if_missing_downloads_nothing_when_data_is_found(server, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "elsewhere" / FOLDER
    folder.mkdir(parents=True)
    monkeypatch.setenv("CIFAR10_DIR", str(folder))
    _Handler.hits.clear()
    assert fetch("--if-missing", "--url", f"{server}/good.tar.gz", "--md5", md5(GOOD)) == 0
    assert "found" in capsys.readouterr().err and _Handler.hits == []
    monkeypatch.delenv("CIFAR10_DIR")
    assert fetch("--if-missing", "--url", f"{server}/good.tar.gz", "--md5", md5(GOOD)) == 0
    assert _Handler.hits == ["/good.tar.gz"]


@pytest.mark.parametrize("argv, fragment", [
    (["--url", "http://127.0.0.1:9/x.tar.gz"], "--url needs --md5"),
    (["--md5", "xyz"], "--md5='xyz' is not allowed: 32 hexadecimal digits"),
])
def test_bad_usage(capsys, argv, fragment):
    with pytest.raises(SystemExit) as exc:
        fetch(*argv)
    assert exc.value.code == 2 and fragment in capsys.readouterr().err


def test_resolution_order(tmp_path, monkeypatch):
    cache = tmp_path / "xdg-cache" / "shattered-gradients" / FOLDER
    project = tmp_path / "shared" / "data" / FOLDER
    given, env, legacy = tmp_path / "given", tmp_path / "env", tmp_path / "legacy"
    project.mkdir(parents=True)
    assert resolve_data_path() == project                    # 4. the project's copy
    cache.mkdir(parents=True)
    assert resolve_data_path() == cache                      # 3. the user cache before it
    monkeypatch.setenv("SHATTERED_GRADIENTS_CIFAR10", str(legacy))
    assert resolve_data_path() == legacy                     # 2. the older variable still works
    monkeypatch.setenv("CIFAR10_DIR", str(env))
    assert resolve_data_path() == env                        # 2. $CIFAR10_DIR first
    assert resolve_data_path(given) == given                 # 1. --data before everything
    assert data.default_data_path() == env
    with pytest.raises(CIFAR10Error, match=r"from \$CIFAR10_DIR\) does not exist"):
        load_cifar10()                                       # a named place is used as given


def test_not_found_lists_the_places_and_names_fetch(tmp_path, capsys):
    with pytest.raises(CIFAR10Error) as exc:
        resolve_data_path()
    message = str(exc.value)
    assert "python -m montecarlo.convnets.data fetch" in message
    assert str(tmp_path / "xdg-cache" / "shattered-gradients" / FOLDER) in message
    assert str(tmp_path / "shared" / "data" / FOLDER) in message
    assert data.default_data_path() == tmp_path / "xdg-cache" / "shattered-gradients" / FOLDER  # never raises
    from montecarlo.convnets.cli import main as convnets
    with pytest.raises(SystemExit) as code:
        convnets(["--no-store"])
    assert code.value.code == 2 and "python -m montecarlo.convnets.data fetch" in capsys.readouterr().err
    assert main(["where"]) == 0
    assert "no CIFAR-10 data found" in capsys.readouterr().out


def test_command_line_with_a_file_url(tmp_path):
    """``python -m montecarlo.convnets.data fetch --url file:///…`` (a copy on disk), as a user runs it."""
    import subprocess
    import sys
    from pathlib import Path
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(GOOD)
    proc = subprocess.run([sys.executable, "-m", "montecarlo.convnets.data", "fetch", "--dir", str(tmp_path / "d"),
                           "--url", archive.as_uri(), "--md5", md5(GOOD)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "d" / FOLDER) and "Warning" not in proc.stderr
    assert len(load_cifar10(tmp_path / "d" / FOLDER, "train")) == 5 * IMAGES
