"""Helpers shared by the command-line interfaces (exit codes, errors, tables, JSON numbers).

Contract (DESIGN.md): ``--json`` prints one JSON document on stdout and nothing else there;
human tables by default; exit 0 on success, 1 when a verdict fails, 2 on bad usage — with a
message that names the argument, the value and what is allowed.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, Iterable, NoReturn, Sequence

import mpmath

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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
