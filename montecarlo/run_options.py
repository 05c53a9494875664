"""The results-store and executor options, declared once for every CLI that keeps results.

``--store PATH | --no-store`` (the SQLite results store of :mod:`montecarlo.store`) and, where
chunks can be spread, ``--workers K | --scheduler ADDRESS`` (a Dask cluster,
:mod:`montecarlo.distributed`).  Used by ``python -m montecarlo``, ``theory.verify``,
``montecarlo.convnets``, ``montecarlo.convnets.train`` and ``reports.produce``.
"""
from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

from .store import Store, default_store_path


def display_path(path: Any) -> str:
    """``path`` with the home directory shown as ``~``."""
    home = os.path.expanduser("~")
    text = str(path)
    return "~" + text[len(home):] if home != "/" and text.startswith(home + os.sep) else text


def add_store_options(parser: argparse.ArgumentParser, *,
                      what: str = "results are written as they complete and reused by later runs",
                      executor: bool = False, no_store: bool = True, read_only: bool = False) -> None:
    """Add the ``results store`` group (and, with ``executor=True``, ``--workers | --scheduler``).

    ``what`` says what the command keeps there; ``read_only`` (a reader such as ``python -m
    reports``) says the store is never created or modified and offers no ``--no-store``.
    """
    if read_only:
        what, no_store = "read only, never created or modified", False
    group = parser.add_argument_group("results store" + (" and distributed runs" if executor else ""))
    where = group.add_mutually_exclusive_group() if no_store else group
    where.add_argument("--store", metavar="PATH",
                       help=f"SQLite results store: {what} (default: $SHATTERED_GRADIENTS_STORE, else "
                            f"{display_path(default_store_path())}); a corrupt or incompatible file is an error "
                            "and is never modified")
    if no_store:
        where.add_argument("--no-store", action="store_true", dest="no_store",
                           help="compute everything, read and write no store")
    if executor:
        spread = group.add_mutually_exclusive_group()
        spread.add_argument("--workers", type=int, metavar="K",
                            help="start a local Dask cluster of K worker processes for the chunks")
        spread.add_argument("--scheduler", metavar="ADDRESS",
                            help="send the chunks to the running Dask scheduler at ADDRESS (e.g. tcp://host:8786)")


def store_path(args: argparse.Namespace) -> Path | None:
    """The store the options name: ``None`` with ``--no-store``, else ``--store`` or the default."""
    if getattr(args, "no_store", False):
        return None
    return Path(args.store) if args.store else default_store_path()


def open_store(args: argparse.Namespace) -> Store | None:
    """The opened store of the options (``None`` with ``--no-store``); raises :class:`StoreError`."""
    path = store_path(args)
    return None if path is None else Store(path)


def workers_error(args: argparse.Namespace) -> str | None:
    """The message for a bad ``--workers`` value, or ``None``."""
    workers = getattr(args, "workers", None)
    if workers is not None and workers < 1:
        return f"--workers={workers!r} is not allowed: an integer >= 1 (local worker processes)"
    return None


@contextlib.contextmanager
def executor(args: argparse.Namespace) -> Iterator[Any]:
    """A Dask executor for ``--workers`` / ``--scheduler``, or ``None`` (chunks run in this process)."""
    workers, scheduler = getattr(args, "workers", None), getattr(args, "scheduler", None)
    if workers is None and scheduler is None:
        yield None
        return
    from .distributed import dask_executor
    with dask_executor(workers=workers, scheduler=scheduler) as pool:
        yield pool
