"""Download the CIFAR-10 python archive, check its MD5 and put ``cifar-10-batches-py`` in place.

:func:`fetch_cifar10` is what ``python -m montecarlo.convnets.data fetch`` runs (:mod:`.data`):

1. the archive is streamed from ``url`` into a temporary file beside the destination (in the
   same folder, so nothing crosses a file system), with a progress line on stderr;
2. a short body (fewer bytes than the server's ``Content-Length``) or an HTTP or network error
   stops it; then the MD5 of the bytes is compared with ``md5``;
3. the archive is extracted into a temporary folder beside the destination, refusing members that
   are absolute, contain ``..``, are links or devices (``tarfile``'s ``"data"`` filter where the
   Python has it, the same rules checked here in any case);
4. the extracted ``cifar-10-batches-py`` folder is renamed into place — one ``rename``, atomic on
   a POSIX file system, so a reader sees no folder or a complete one.

Any failure raises :class:`FetchError`, whose message says what went wrong and what to do, after
the temporary file and folder are removed: nothing is left behind.  An existing complete folder
is kept (``force=True`` replaces it: the old folder is renamed aside, the new one renamed into
place, and only then the old one deleted).

The defaults are the official archive and the MD5 published with it on the dataset's page,
https://www.cs.toronto.edu/~kriz/cifar.html (Krizhevsky 2009, "Learning Multiple Layers of
Features from Tiny Images"): 170,498,071 bytes.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable, TextIO

#: the official CIFAR-10 python archive, from the dataset's page (https://www.cs.toronto.edu/~kriz/cifar.html)
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
#: its MD5, as published on the same page
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
#: the folder the archive holds, and the name the data is read under
FOLDER = "cifar-10-batches-py"
#: the files of a complete folder (the official archive also holds readme.html)
COMPLETE_FILES = ("batches.meta", "test_batch") + tuple(f"data_batch_{k}" for k in range(1, 6))
TIMEOUT_S = 60.0
_BLOCK = 1 << 20


class FetchError(Exception):
    """The download, its check or its extraction failed; the message says what and what to do."""


def missing_files(folder: Path) -> list[str]:
    """The files of :data:`COMPLETE_FILES` that ``folder`` lacks (empty: the folder is complete)."""
    return [name for name in COMPLETE_FILES if not (folder / name).is_file()]


class _Progress:
    """A one-line progress report on ``stream``: redrawn in place on a terminal, else start and end."""

    def __init__(self, url: str, total: int | None, stream: TextIO | None):
        self.url, self.total, self.stream = url, total, stream
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self.start = self.last = time.monotonic()
        self.done = 0
        size = "" if total is None else f" ({total / 1e6:.1f} MB)"
        self._say(f"downloading {url}{size}", end="\n")

    def _say(self, text: str, end: str) -> None:
        if self.stream is not None:
            self.stream.write(text + end)
            self.stream.flush()

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.tty and now - self.last >= 0.2:
            self.last = now
            share = "" if not self.total else f" ({100 * self.done / self.total:3.0f}%)"
            of = "" if not self.total else f" / {self.total / 1e6:.1f}"
            rate = self.done / max(now - self.start, 1e-9) / 1e6
            self._say(f"\r  {self.done / 1e6:.1f}{of} MB{share}  {rate:.1f} MB/s ", end="")

    def finish(self) -> None:
        seconds = time.monotonic() - self.start
        self._say(("\r" if self.tty else "") + f"  {self.done / 1e6:.1f} MB in {seconds:.1f} s" + " " * 20, end="\n")


def download(url: str, file: str | os.PathLike, md5: str, stream: TextIO | None = None) -> None:
    """Stream ``url`` into ``file`` (a path) and check its length and MD5; raises :class:`FetchError`.

    The progress line goes to ``stream`` (default: stderr)."""
    stream = sys.stderr if stream is None else stream
    digest = hashlib.md5()
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT_S)  # noqa: S310 — the URL is the user's choice
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url} answered HTTP {exc.code} {exc.reason}: check --url (the default is "
                         f"{CIFAR10_URL}), or download the archive by hand and pass --url file:///PATH") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"cannot reach {url} ({reason}): check the network connection and --url, or "
                         f"download the archive by hand and pass --url file:///PATH") from None
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        progress = _Progress(url, total, stream)
        try:
            with open(file, "wb") as out:
                while True:
                    block = response.read(_BLOCK)
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    progress.add(len(block))
        except http.client.IncompleteRead as exc:
            progress.done += len(exc.partial)
            raise FetchError(f"the download from {url} was cut short after {progress.done} bytes "
                             f"(expected {total}): try again") from None
        except (socket.timeout, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            raise FetchError(f"the download from {url} stopped after {progress.done} bytes ({exc}): "
                             "try again") from None
        progress.finish()
    if total is not None and progress.done != total:
        raise FetchError(f"the download from {url} is truncated: {progress.done} of the {total} bytes its "
                         "Content-Length announced arrived; try again")
    got = digest.hexdigest()
    if got != md5.lower():
        raise FetchError(f"the download from {url} has MD5 {got}, expected {md5.lower()} (--md5): it is not the "
                         "archive that checksum describes, or it was damaged; try again, or check --url and --md5")


def _check_member(member: tarfile.TarInfo) -> None:
    """Refuse an archive member that could write outside the extraction folder or is not plain data."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or member.name.startswith(("/", "\\")):
        raise FetchError(f"the archive holds an unsafe member {member.name!r} (absolute or with '..'); "
                         "it was not extracted: check --url")
    if not (member.isfile() or member.isdir()):
        raise FetchError(f"the archive holds {member.name!r}, which is not a plain file or folder (a link or "
                         "a device); it was not extracted: check --url")


def extract(archive: os.PathLike, into: Path) -> Path:
    """Extract ``archive`` (tar.gz) into the folder ``into`` safely; returns ``into / FOLDER``."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(into, members=members, filter="data")
            else:  # pragma: no cover - Pythons before the extraction filters (3.11.4)
                tar.extractall(into, members=members)
    except (tarfile.TarError, EOFError, zlib.error, OSError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # the disk, not the archive (gzip's own errors carry no errno): theory.cli.command reports it
        raise FetchError(f"the download is not a readable tar.gz archive ({type(exc).__name__}: {exc}); "
                         "check --url") from None
    folder = into / FOLDER
    if not folder.is_dir() or not any((folder / n).is_file() for n in COMPLETE_FILES if n != "batches.meta"):
        raise FetchError(f"the archive holds no {FOLDER}/ folder with CIFAR-10 batch files "
                         "(data_batch_1..5, test_batch): it is not the CIFAR-10 python archive; check --url")
    return folder


def fetch_cifar10(parent: str | os.PathLike, url: str = CIFAR10_URL, md5: str = CIFAR10_MD5, *,
                  force: bool = False, stream: TextIO | None = None,
                  log: Callable[[str], None] | None = None) -> tuple[Path, bool]:
    """Put CIFAR-10 at ``parent / FOLDER``; returns ``(folder, fetched)`` (False: already there).

    An existing complete folder is kept unless ``force``; an incomplete one raises
    :class:`FetchError` (``force`` replaces it).  Progress goes to ``stream`` (default: stderr),
    notes to ``log`` (default: stderr).  See the module docstring for the steps.
    """
    log = log or (lambda text: print(text, file=sys.stderr))
    parent = Path(parent).expanduser()
    dest = parent / FOLDER
    if dest.exists() and not force:
        if not dest.is_dir():
            raise FetchError(f"{dest} exists and is not a folder: move it aside, or choose another --dir")
        lacking = missing_files(dest)
        if not lacking:
            log(f"CIFAR-10 is already there: {dest} (nothing downloaded; --force replaces it)")
            return dest, False
        raise FetchError(f"{dest} exists but is incomplete (no {', '.join(lacking)}): pass --force to replace "
                         "it, or choose another --dir")
    created = []  # folders made here, removed again on failure when still empty
    for folder in reversed([parent, *parent.parents]):
        if not folder.exists():
            folder.mkdir()
            created.append(folder)
    fd, tmp_name = tempfile.mkstemp(prefix=".cifar-10-python.", suffix=".tar.gz.part", dir=parent)
    os.close(fd)
    tmp_file, tmp_dir, old = Path(tmp_name), None, None
    try:
        download(url, tmp_file, md5, stream)
        tmp_dir = Path(tempfile.mkdtemp(prefix=".cifar-10-extract.", dir=parent))
        folder = extract(tmp_file, tmp_dir)
        if dest.exists():  # force: set the old folder aside, put the new one in place, then delete the old
            old = parent / f".{FOLDER}.old-{os.getpid()}"
            os.rename(dest, old)
        try:
            os.rename(folder, dest)
        except OSError:
            if old is not None:
                os.rename(old, dest)
                old = None
            elif dest.is_dir() and not missing_files(dest):  # another process put it there first
                log(f"CIFAR-10 is already there: {dest} (another process fetched it)")
                return dest, False
            raise
        log(f"CIFAR-10 is in {dest}" + (" (replaced the folder that was there)" if old is not None else ""))
        return dest, True
    finally:  # on success or failure: no temporary file or folder stays; on failure no new empty folder
        tmp_file.unlink(missing_ok=True)
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        if not dest.exists():
            for folder in reversed(created):
                try:
                    folder.rmdir()
                except OSError:
                    break
