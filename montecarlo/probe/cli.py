"""``python -m montecarlo.probe``: do *your* model's gradients shatter at initialization?

    python -m montecarlo.probe TARGET (--input-shape C,H,W | --data cifar10 [--data-dir D])
        [--inits S] [--batch-size B] [--seed K] [--loss sum|cross_entropy] [--layers PATTERN ...]
        [--bn-backward constant|through] [--device cpu|cuda] [--path line|random|none]
        [--path-points M] [--max-lag K] [--theory ARCH [--beta B] [--norm N]] [--fwer A]
        [--threads T] [--out DIR [--force]] [--json]

TARGET is ``package.module:factory`` or ``path/to/file.py:factory`` (optionally
``factory(key=literal, ...)``): a callable returning a fresh ``torch.nn.Module``, called once per
initialization under its own seed (:mod:`.target`, :mod:`.measure`).  For every probed layer
(``--layers``: fnmatch patterns of module names or class names; default every rectifier-like
module) it prints the correlation of the gradient between typical pairs of inputs with its
interval over initializations and whether it lies in the white-noise band; with ``--theory`` the
path-model and infinite-width values of that block structure; the share of active and co-active
units (Assumption 1: 1/2 and 1/4); the input gradients' relative effective rank and normalized
norm against white noise (Fig. 5c–d); and the ACF and spectral exponent of df/dt along a path
against white and brown noise (Fig. 1–2).  The time taken is printed.

``--json`` prints one JSON document on stdout (every number with mean, stderr, n and a 95 %
interval; :mod:`.document`); progress goes to stderr.  ``--out DIR`` also writes ``probe.json``,
the figures (PNG and PDF) and a self-contained ``probe.html`` there (:mod:`reports.probe_page`;
an existing page is replaced only with ``--force``).  Exit 0 on success, 2 on bad usage: a
target that is not importable or not callable, a model whose output or gradients are wrong or
not finite, a bad option, ``--device cuda`` without CUDA — with a message naming what failed.

This module is an application entry (like ``theory.verify``): it composes the measuring layer
(:mod:`montecarlo.probe`) with the report layer's page writer, imported only for ``--out``.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Sequence

from theory.cli import EXIT_OK, EXIT_USAGE, command, text_table
from theory.options import flag_of, given_values
from theory.specs import NORMS, SpecError

from .document import THEORY_ARCHS, _fmt, interval_text
from .settings import ProbeSettings, probe_options

PROG = "python -m montecarlo.probe"
DATASETS = ("cifar10",)
MAX_ROWS = 12
WIDTH = 110  # the free text's line width (the table is as wide as its cells)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="TARGET", help="MODULE:FACTORY or path/to/file.py:FACTORY[(key=literal, ...)]")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--input-shape", metavar="C,H,W", help="inputs i.i.d. N(0, I) of this shape (e.g. 3,32,32 "
                                                                 "or 200)")
    source.add_argument("--data", choices=DATASETS, help="inputs drawn from a dataset (CIFAR-10 training images)")
    from ..convnets.data import data_help  # numpy only
    p.add_argument("--data-dir", metavar="D", help="with --data cifar10: the " + data_help())
    p.epilog = ("TARGET goes before --layers, whose patterns take every word up to the next option (or --).  "
                "Examples:\n  python -m montecarlo.probe 'montecarlo.probe.examples:mlp(depth=16, "
                "width=128)' --input-shape 128 --bn-backward constant\n  python -m montecarlo.probe "
                "my_models.py:build --data cifar10 --theory resnet --beta 0.1 --norm bn --out probe/")
    options = probe_options()
    from theory.options import add_options
    add_options(p, options, set_defaults=False)
    p.add_argument("--layers", nargs="+", metavar="PATTERN", default=None,
                   help="modules to probe: fnmatch patterns of module names (blocks.*) or class names (ReLU); "
                        "default every rectifier-like module")
    p.add_argument("--theory", choices=THEORY_ARCHS, help="the block structure the model follows, for the "
                                                          "path-model and infinite-width curves (theory.predict)")
    p.add_argument("--beta", type=float, help="with --theory resnet: the branch scale beta")
    p.add_argument("--norm", choices=NORMS, help="with --theory ff|resnet: the normalization (none, center, bn)")
    p.add_argument("--out", metavar="DIR", help="write probe.json, figures (PNG, PDF) and probe.html here")
    p.add_argument("--force", action="store_true", help="with --out: replace an existing probe.html")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return p


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(s < 1 for s in shape):
        raise SpecError("input_shape", text, "comma-separated positive integers, e.g. 3,32,32 or 200")
    return shape


def _inputs(args: argparse.Namespace, batch: int):
    from .measure import Inputs
    if args.data is None:
        if args.data_dir is not None:
            raise SpecError("data_dir", args.data_dir, "only with --data cifar10")
        if args.input_shape is None:
            raise SpecError("input_shape", None, "--input-shape C,H,W (Gaussian inputs) or --data cifar10")
        shape = parse_shape(args.input_shape)
        return Inputs(shape, description=f"i.i.d. N(0, I) of shape {','.join(map(str, shape))}")
    from ..convnets.data import default_data_path, load_cifar10
    data = load_cifar10(args.data_dir, split="train")
    if len(data) < batch + 2:
        raise SpecError("batch_size", batch, f"at most {len(data) - 2} (the CIFAR-10 folder holds {len(data)} images)")
    where = args.data_dir or default_data_path()
    return Inputs(tuple(data.images.shape[1:]), data.images, data.labels,
                  description=f"CIFAR-10 training images from {where} ({len(data)} images, {', '.join(data.files)})")


@command(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    t0 = time.perf_counter()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_USAGE
    options = probe_options()
    values = given_values(args, options)
    if args.layers is not None:
        values["layers"] = tuple(args.layers)
    theory_fields = {k: v for k, v in (("beta", args.beta), ("norm", args.norm)) if v is not None}
    from .document import check_theory
    try:
        settings = ProbeSettings(**values)
        check_theory(args.theory, theory_fields)
    except SpecError as exc:
        return _error(f"{flag_of(exc.field, options)}: {exc}")
    out = Path(args.out) if args.out else None
    if args.force and out is None:
        return _error("--force applies only with --out DIR")
    if out is not None and (out / "probe.html").exists() and not args.force:
        return _error(f"--out {out}: {out / 'probe.html'} exists and would be overwritten; pass --force to "
                      "replace it")
    if out is not None and out.exists() and not out.is_dir():
        return _error(f"--out {out}: exists and is not a folder")

    from ..convnets.data import CIFAR10Error
    from .target import TargetError, load_factory
    try:
        inputs = _inputs(args, settings.batch_size)
    except SpecError as exc:
        return _error(f"{flag_of(exc.field, options)}: {exc}")
    except CIFAR10Error as exc:
        return _error(f"--data-dir: {exc}")
    try:
        factory = load_factory(args.target)
    except TargetError as exc:
        return _error(str(exc))

    from .document import build_document
    from .measure import ProbeError, run_probe

    def progress(done: int) -> None:  # a counter on a terminal, nothing in a log
        if sys.stderr.isatty():
            print(f"\r{PROG}: initialization {done}/{settings.inits}", end="" if done < settings.inits else "\n",
                  file=sys.stderr, flush=True)

    try:
        run = run_probe(factory, inputs, settings, progress=progress)
        doc = build_document(run, target=args.target, command=[PROG.split()[-1], *argv],
                             theory=args.theory, theory_fields=theory_fields)
    except (ProbeError, TargetError) as exc:
        print(file=sys.stderr)
        return _error(str(exc))
    except SpecError as exc:
        return _error(f"--theory: {exc}")
    doc["timing"]["total_seconds"] = time.perf_counter() - t0
    if out is not None:
        from reports.probe_page import write_page  # the report layer, only for --out
        out.mkdir(parents=True, exist_ok=True)
        (out / "probe.json").write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        doc["files"] = [str(p) for p in write_page(doc, out)]
        doc["timing"]["total_seconds"] = time.perf_counter() - t0
    if args.json:
        json.dump(doc, sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print(render_table(doc))
    return EXIT_OK


def _cell(verdict: dict | None, value: float | None = None) -> str:
    if verdict is None:
        return ""
    word = {"holds approximately": "approx."}.get(verdict["verdict"], verdict["verdict"])
    if verdict["verdict"] == "undecided" and verdict.get("needed"):
        word += f" ({verdict['needed']})"
    return word if value is None else f"{_fmt(value)} {word}"


def _rows_shown(count: int, limit: int = MAX_ROWS) -> list[int]:
    if count <= limit:
        return list(range(count))
    step = -(-count // (limit - 1))
    return sorted(set(range(0, count, step)) | {count - 1})


def render_table(doc: dict[str, Any]) -> str:
    """The human report: a header, one row per probed layer (at most :data:`MAX_ROWS`), the findings."""
    s = doc["settings"]
    model = doc["model"]
    bn = model.get("batch_norm_modules", 0)
    lines = [f"{PROG} {doc['target']}",
             f"{s['inits']} initializations x {s['batch_size']} inputs: {doc['inputs']}",
             f"seed {s['seed']}, loss {s['loss']}, "
             + (f"BN backward {s['bn_backward']} ({bn} BN modules)" if bn else "no batch norm")
             + f"; {model['class']}, {model['parameters']:,} parameters"]
    gates = {g["name"]: g for g in doc["gates"]}
    theory = doc.get("theory")
    level = f"{1 - doc['alpha']['each']:.4g}".rstrip("0")
    headers = ["layer", "d", f"correlation [{float(level):.2%} CI]", f"white |r|<={doc['white_band']['delta']:g}"]
    wide = bool(theory and theory["infinite_width"] is not None)
    if theory:
        headers += ["path model"] + (["infinite width"] if wide else [])
    headers += ["active", "co-active"]
    rows = []
    layers = doc["layers"]

    def say(text: str) -> None:
        lines.extend(textwrap.wrap(text, WIDTH, subsequent_indent="  "))

    shown = _rows_shown(len(layers))
    for k in shown:
        r = layers[k]
        row = [r["name"], r["depth"], interval_text(r["correlation"], r["white_band"]), _cell(r["white_band"])]
        if theory:
            row.append(_cell(r["theory"]["path"], r["theory"]["path"]["value"]))
            if wide:
                row.append(_cell(r["theory"]["infinite_width"], r["theory"]["infinite_width"]["value"]))
        g = gates.get(r["name"])
        row += [f"{g['activation']['mean']:.2f}" if g else "", f"{g['coactivation']['mean']:.2f}" if g else ""]
        rows.append(row)
    lines.append(text_table(headers, rows, max_width=32))
    if len(shown) < len(layers):
        lines.append(f"({len(shown)} of {len(layers)} layers shown; every layer is in --json and --out)")
    if doc["gates"]:
        on = max(g["always_on"]["mean"] for g in doc["gates"])
        off = max(g["always_off"]["mean"] for g in doc["gates"])
        say(f"Rectifier units: share always on up to {on:.2f}, always off up to {off:.2f} (over "
                     f"{s['batch_size']} inputs); Assumption 1: active 1/2, co-active 1/4.")
    path = doc.get("path")
    if path and path["acf"]:
        acf1 = path["acf"][1]
        b = path["baselines"]
        say(f"Path ({path['kind']}, {path['points']} points): lag-1 ACF {interval_text(acf1)} "
                     f"(white {_fmt(b['white']['acf'][1]['mean'], 2)}, brown {_fmt(b['brown']['acf'][1]['mean'], 2)}); "
                     f"exponent: white band {_cell(path['verdicts'].get('white'))}, brown band "
                     f"{_cell(path['verdicts'].get('brown'))}.")
    for sentence in doc["summary"]:
        lines.extend(textwrap.wrap(sentence, WIDTH, subsequent_indent="  ", initial_indent="* "))
    for note in doc["notes"]:
        say("note: " + note)
    if any(r["white_band"]["verdict"] == "undecided" for r in layers):
        say("undecided (n): about n initializations would decide it (--inits n; a larger --batch-size "
                     "also narrows the intervals).")
    a = doc["alpha"]
    t = doc["timing"]
    per = sum(t["per_init"]) / max(len(t["per_init"]), 1)
    say(f"Verdicts at family-wise rate {a['fwer']:g} over {a['comparisons']} comparisons ({a['each']:.2g} each, "
        "Bonferroni).")
    say(f"Time {t.get('total_seconds', t['seconds']):.1f} s ({per:.2f} s per initialization, {t['device']}, "
        f"{t['torch_threads']} torch threads).")
    if doc.get("files"):
        lines.append("Wrote " + ", ".join(shlex.quote(Path(f).name) for f in doc["files"]) + " to "
                     + shlex.quote(str(Path(doc["files"][0]).parent)))
    return "\n".join(lines)
