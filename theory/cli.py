"""Helpers shared by the command-line interfaces (exit codes, errors, tables, JSON numbers).

Contract (DESIGN.md): ``--json`` prints one JSON document on stdout and nothing else there;
human tables by default; exit 0 on success, 1 when a verdict fails, 2 on bad usage — with a
message that names the argument, the value and what is allowed.

Every ``main(argv)`` of a command is wrapped by :func:`command`, the one place where problems of
the machine rather than of the code become usage errors (exit 2, one line on stderr naming what is
missing and what to do, no traceback): a Python package that is not installed (torch …), a
backend this machine cannot run (``--backend cuda`` without a device), no permission to write, a
full disk.  It also ends a command quietly when its reader closes the pipe (``… | head``).
"""
from __future__ import annotations

import argparse
import errno
import functools
import json
import math
import os
import sqlite3
import sys
from typing import Any, Callable, Iterable, NoReturn, Sequence

import mpmath

from kernels import BackendUnavailable

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  #: 128 + SIGINT, as a shell reports a command stopped by Ctrl-C

#: this project's packages: a module of theirs that does not import is a bug, not the machine's fault
PROJECT_PACKAGES = ("theory", "montecarlo", "kernels", "reports")
#: how to install the third-party packages that some commands import only when they need them
INSTALL_HINTS = {
    "torch": "pip install 'torch>=2.1' (or `make install`, which installs the Makefile's TORCH_SPEC)",
    "dask": "pip install 'dask[distributed]>=2024.1' (the project's [distributed] extra)",
    "distributed": "pip install 'dask[distributed]>=2024.1' (the project's [distributed] extra)",
}
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NO_PERMISSION = {errno.EACCES, errno.EPERM, errno.EROFS}
_WHERE_TO_WRITE = ("a place you may write to (--store PATH or $SHATTERED_GRADIENTS_STORE for the results "
                   "store, --out DIR, --results FILE, --dir DIR as the command offers)")
_nesting = 0  # how many command() mains are running (reports.produce calls other commands' mains)


def environment_problem(exc: BaseException) -> str | None:
    """The message for an exception that says the machine lacks something, or None for any other.

    A missing third-party package (:class:`ModuleNotFoundError` naming it), a
    :class:`kernels.BackendUnavailable`, no permission to write (``EACCES``, ``EPERM``, ``EROFS``),
    no space left (``ENOSPC``, ``EDQUOT``, or SQLite's "database or disk is full").
    """
    if isinstance(exc, BackendUnavailable):
        return f"--backend: {exc}"
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.partition(".")[0]
        if top in PROJECT_PACKAGES:
            return None
        how = INSTALL_HINTS.get(top, f"pip install {top}")
        return f"the Python package {top!r} is not installed, and this command needs it: {how}"
    if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
        return f"the disk is full ({exc}): free some space there, or write to {_WHERE_TO_WRITE}"
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE | _NO_PERMISSION:
        what = f" ({exc.filename})" if exc.filename else ""
        problem = "no space left on the device" if exc.errno in _NO_SPACE else "no permission to write"
        remedy = "free some space there, or write to " if exc.errno in _NO_SPACE else "choose "
        return f"{problem}{what}: {exc.strerror or exc}; {remedy}{_WHERE_TO_WRITE}"
    return None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (e.g. captured)
        pass


def command(prog: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorate a command's ``main(argv) -> exit code`` with the shared error path.

    An exception for which :func:`environment_problem` has a message prints ``PROG: error: …`` on
    stderr and returns :data:`EXIT_USAGE`; anything else propagates (a traceback is a bug).  When
    the reader of stdout goes away (:class:`BrokenPipeError`, e.g. ``| head -2``) the outermost
    command points stdout at /dev/null and returns :data:`EXIT_OK`: nothing this program did
    failed.  Ctrl-C (:class:`KeyboardInterrupt`) prints one line, not a traceback, and returns
    :data:`EXIT_INTERRUPTED`.  Its output is flushed before it returns, so that a closed pipe is noticed here.
    """
    def wrap(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def run(argv: Sequence[str] | None = None) -> int:
            global _nesting
            outermost = _nesting == 0
            _nesting += 1
            try:
                code = main(argv)
                if outermost:
                    sys.stdout.flush()
                return code
            except BrokenPipeError:
                if not outermost:
                    raise
                _silence_stdout()
                return EXIT_OK
            except KeyboardInterrupt:
                if not outermost:
                    raise
                print(f"\n{prog}: interrupted (Ctrl-C); what a results store already holds is kept, and a "
                      "rerun with the same store resumes from it", file=sys.stderr)
                return EXIT_INTERRUPTED
            except Exception as exc:  # noqa: BLE001 — only the machine's problems are kept, below
                message = environment_problem(exc)
                if message is None:
                    raise
                print(f"{prog}: error: {message}", file=sys.stderr)
                return EXIT_USAGE
            finally:
                _nesting -= 1
        return run
    return wrap


def usage_error(prog: str, message: str) -> NoReturn:
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


class Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and the program name on every error (argparse's own default)."""

    def error(self, message: str) -> NoReturn:  # pragma: no cover - argparse calls this
        self.print_usage(sys.stderr)
        usage_error(self.prog, message)


def json_number(value: Any) -> Any:
    """A JSON-safe number: float when finite; mpmath/huge values beyond float range as a string."""
    if isinstance(value, (mpmath.mpf, mpmath.mpc)):
        f = float(value)
        if not math.isfinite(f) or (f == 0.0 and value != 0):
            return mpmath.nstr(value, 17)  # beyond float64 range: keep the digits, as text
        return f
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def dump_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2, sort_keys=False, default=_default)
    sys.stdout.write("\n")


def _default(value: Any) -> Any:
    converted = json_number(value)
    if converted is value:
        return str(value)
    return converted


def format_number(value: Any, digits: int = 6) -> str:
    if isinstance(value, (mpmath.mpf, float, int)):
        return mpmath.nstr(mpmath.mpf(value), digits)
    return str(value)


def text_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], max_width: int = 60) -> str:
    """A plain monospace table (no terminal-width surprises); long cells are wrapped."""
    import textwrap

    rows = [[str(c) for c in r] for r in rows]
    widths = [min(max([len(h)] + [len(r[i]) for r in rows]), max_width) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)),
             "  ".join("-" * w for w in widths)]
    for r in rows:
        wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(r, widths)]
        for k in range(max(len(x) for x in wrapped)):
            lines.append("  ".join((x[k] if k < len(x) else "").ljust(w) for x, w in zip(wrapped, widths)).rstrip())
    return "\n".join(lines)
