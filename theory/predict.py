"""``python -m theory.predict``: what the theory says for an architecture at a depth.

    python -m theory.predict ARCH [--depth L] [--width N] [--alpha A] [--beta B]
        [--gamma1 G] [--gamma2 G] [--norm none|center|bn] [--weight-gain C] [--bias-std S]
        [--x X] [--x-prime X'] [--model path|infinite-width] [--c0 C] [--batch-size M]
        [--bn-backward constant|through] [--curve] [--json]

Prints the gradient variance ``E[∇_i²]``, covariance ``E[∇_i ∇_j]`` and correlation for
typical pairs at depth ``L`` (the gradient w.r.t. a neuron ``L`` layers below the output).
``--model path`` (the paper's Assumption 1: exact at every width) evaluates the path sum of
:mod:`theory.pathsum` in 30-digit arithmetic.  For ``shallow`` the covariance depends on the
two scalar inputs ``--x`` and ``--x-prime`` (exact, no assumption).
``--model infinite-width`` evaluates the mean-field recursions of :mod:`theory.infinite_width`
(real ReLU networks as N -> infinity) for a pair of inputs with correlation ``--c0`` (default 0)
in a batch of ``--batch-size`` inputs (default 64, ``inf`` allowed) whose statistics centering
and BN use; ``--bn-backward`` says how BN is differentiated (constant statistics, the default,
or through them).  Its JSON adds the forward kernel per layer and the gate probabilities.

Depth: the path model's three numbers take the same time at any depth up to :data:`MAX_DEPTH`
(closed forms, :func:`theory.pathsum.product_of_factors`); what visits every layer — the
infinite-width model, ``--curve`` — stops at :data:`MAX_LAYERWISE_DEPTH`.  Deeper is refused (exit 2).
"""
from __future__ import annotations

import sys
from typing import Any, Sequence

from . import cli
from .pathsum import PAPER_THM3_OFFSET, path_moments
from .options import add_bn_backward, add_options, flag_of, given_values
from .specs import ARCHS, SPEC_OPTIONS, ShallowSpec, SpecError, make_spec

MODELS = ("path", "infinite-width")

#: The deepest network ``predict`` answers for, in every model.  The path model's three numbers
#: take the same time at any depth (:func:`theory.pathsum.product_of_factors`), so the limit is
#: not about time but about meaning: the specs hold float64 fields, and the highway's default gate
#: ``γ2² = 1 − (1 − 1/L)`` carries a rounding error of about ``L · 1.1e-16`` relative — 1e-7 at
#: 10^9 layers, where the error of Cor. 1's ``(1 − γ2²/2)^L`` reaches the 8th of the 17 printed
#: digits.  No network anyone trains is within five orders of magnitude of it.
MAX_DEPTH = 10**9

#: The deepest network for which ``predict`` visits every layer: the infinite-width model (a
#: sequential recursion over the layers, about 50 µs each, whose document lists the forward kernel
#: and the gates of every layer) and ``--curve`` (one row per layer).  10^5 layers take 5-20 s.
MAX_LAYERWISE_DEPTH = 10**5


def check_depth(depth: int, model: str, curve: bool) -> None:
    """Refuse a depth beyond :data:`MAX_DEPTH`, or beyond :data:`MAX_LAYERWISE_DEPTH` where every
    layer is visited; raises :class:`SpecError` naming the depth, the limit and why."""
    if depth > MAX_DEPTH:
        raise SpecError("depth", depth, f"an integer in [1, {MAX_DEPTH}] (beyond it the float64 spec "
                        "fields, e.g. the highway's 1 - 1/L, decide more than half of the printed digits; "
                        "see theory.predict.MAX_DEPTH)")
    if depth > MAX_LAYERWISE_DEPTH and (model == "infinite-width" or curve):
        what = "--model infinite-width (a recursion over every layer)" if model == "infinite-width" \
            else "--curve (one row per layer)"
        raise SpecError("depth", depth, f"an integer in [1, {MAX_LAYERWISE_DEPTH}] with {what}; "
                        f"--model path without --curve allows depths up to {MAX_DEPTH}")

DEPTH_CONVENTION = ("depth L = number of layers (blocks) between the neuron and the output; "
                    f"the paper's Thm 3 writes beta^2 (L-1) + 1, i.e. its L = ours + {PAPER_THM3_OFFSET}")


def build_parser() -> cli.Parser:
    p = cli.Parser(
        prog="python -m theory.predict",
        description="Closed-form predictions of 'The Shattered Gradients Problem' for one architecture: "
                    "variance, covariance and correlation of gradients at typical pairs of inputs.",
        epilog="Examples:  python -m theory.predict resnet --depth 50 --beta 0.1 --norm bn --json\n"
               "           python -m theory.predict highway --depth 100        (gamma1^2 = 1 - 1/L)\n"
               "           python -m theory.predict shallow --x -0.5 --x-prime 0.5\n"
               + DEPTH_CONVENTION,
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("arch", metavar="ARCH", choices=ARCHS, help="one of: " + ", ".join(ARCHS))
    add_options(p.add_argument_group("architecture (theory.specs; omitted = the spec's default)"), SPEC_OPTIONS)
    p.add_argument("--x", type=float, help="shallow: first input (default 0)")
    p.add_argument("--x-prime", type=float, dest="x_prime", help="shallow: second input (default 1)")
    p.add_argument("--model", choices=MODELS, default="path",
                   help="path: the paper's Assumption 1 (exact at every width); infinite-width: mean-field recursions")
    p.add_argument("--c0", type=float, help="infinite-width model: correlation of the two inputs, in [-1, 1] (default 0)")
    p.add_argument("--batch-size", dest="batch_size", type=float, metavar="M",
                   help="infinite-width model: inputs per batch for centering/BN statistics "
                        "(default 64 = the Monte Carlo's 32 pairs; 'inf' allowed)")
    add_bn_backward(p, extra_help="; infinite-width model only (default constant)")
    p.add_argument("--curve", action="store_true", help="also print the whole depth curve d = 1..L")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    return p


def spec_from_args(args: Any, prog: str):
    """Build the spec from parsed arguments; a bad value exits 2 with a message naming it."""
    try:
        return make_spec(args.arch, **given_values(args, SPEC_OPTIONS))
    except SpecError as exc:
        flag = "/".join(flag_of(f.strip(), SPEC_OPTIONS) for f in exc.field.split(","))
        cli.usage_error(prog, f"{flag}: {exc}")


def _curve_doc(curves: dict) -> dict:
    return {"depth": curves["depth"],
            **{k: [cli.json_number(v) for v in curves[k]] for k in ("variance", "covariance", "correlation")}}


def predict_infinite_width(spec, c0: float = 0.0, batch_size: Any = None,
                           bn_backward: str = "constant") -> dict[str, Any]:
    """The infinite-width document: the path model's keys plus ``forward``, ``gates``, ``batch_size``."""
    from .infinite_width import DEFAULT_BATCH_SIZE, infinite_width_moments
    M = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    result = infinite_width_moments(spec, c0=c0, batch_size=M, bn_backward=bn_backward)
    doc: dict[str, Any] = {"arch": spec.arch, "model": "infinite-width", "spec": spec.to_dict(),
                           "depth": spec.depth}
    doc.update(variance=result["variance"], covariance=result["covariance"],
               correlation=result["correlation"], depth_convention=DEPTH_CONVENTION,
               c0=result["c0"], batch_size=result["batch_size"] if result["batch_size"] != float("inf") else "inf",
               bn_backward=result["bn_backward"],
               curves=_curve_doc(result["curves"]), layer_curves=_curve_doc(result["layer_curves"]),
               forward={k: [cli.json_number(float(v)) for v in vals] if k != "layer" else vals
                        for k, vals in result["forward"].items()},
               gates={k: [cli.json_number(float(v)) for v in vals] if k != "layer" else vals
                      for k, vals in result["gates"].items()})
    return doc


def predict(spec, model: str = "path", x: float = 0.0, x_prime: float = 1.0, c0: float = 0.0,
            batch_size: Any = None, bn_backward: str = "constant", curves: bool = True) -> dict[str, Any]:
    """The prediction document for ``spec`` (see the module docstring).

    ``curves=False`` leaves out the path model's depth curves (``curves``, ``layer_curves``): the
    three numbers then take the same time at any depth.  A depth beyond :data:`MAX_DEPTH` (or
    :data:`MAX_LAYERWISE_DEPTH` where every layer is visited) raises :class:`SpecError`.
    """
    if model not in MODELS:
        raise ValueError(f"model={model!r} is not allowed here: one of {', '.join(MODELS)}")
    check_depth(spec.depth, model if not isinstance(spec, ShallowSpec) else "path", curves and model == "path")
    if model == "infinite-width" and not isinstance(spec, ShallowSpec):
        return predict_infinite_width(spec, c0, batch_size, bn_backward)
    doc: dict[str, Any] = {"arch": spec.arch, "model": model, "spec": spec.to_dict(), "depth": spec.depth}
    if isinstance(spec, ShallowSpec):
        from .derivations import shallow_covariance
        values = shallow_covariance(x, x_prime, spec.bias_std, spec.weight_gain)
        doc.update({k: cli.json_number(float(v)) for k, v in values.items()})
        doc.update(x=x, x_prime=x_prime,
                   formula="E[f'(x) f'(x')] = c Phi(min(x, x')/sigma_b): Brownian motion in t = Phi(x/sigma_b)")
        if model == "infinite-width":
            doc["note"] = "the shallow net's covariance is exact at every width: infinite width gives the same"
        return doc
    result = path_moments(spec, curves=curves)
    doc.update(variance=cli.json_number(result["variance"]),
               covariance=cli.json_number(result["covariance"]),
               correlation=cli.json_number(result["correlation"]),
               depth_convention=DEPTH_CONVENTION)
    if not curves:
        return doc
    curves = result["curves"]
    doc["curves"] = {"depth": curves["depth"],
                     **{k: [cli.json_number(v) for v in curves[k]] for k in ("variance", "covariance", "correlation")}}
    layer = result["layer_curves"]
    doc["layer_curves"] = {"depth": layer["depth"],
                           **{k: [cli.json_number(v) for v in layer[k]] for k in ("variance", "covariance", "correlation")}}
    return doc


@cli.command("python -m theory.predict")
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = parser.prog
    if args.model == "path":
        for flag, value in (("--c0", args.c0), ("--batch-size", args.batch_size), ("--bn-backward", args.bn_backward)):
            if value is not None:
                cli.usage_error(prog, f"{flag}={value!r} is not allowed with --model path: the path model's "
                                      "typical pairs depend on neither the input correlation nor the batch "
                                      "(use --model infinite-width)")
    else:
        if args.c0 is not None and not (-1.0 <= args.c0 <= 1.0):
            cli.usage_error(prog, f"--c0: c0={args.c0!r} is not allowed: a real number in [-1, 1] "
                                  "(the correlation of the two inputs of a pair)")
        if args.batch_size is not None and not (args.batch_size == float("inf") or
                                                (args.batch_size >= 2 and float(args.batch_size).is_integer())):
            cli.usage_error(prog, f"--batch-size: batch_size={args.batch_size!r} is not allowed: an integer "
                                  ">= 2 or inf (inputs per batch)")
    if args.arch != "shallow" and (args.x is not None or args.x_prime is not None):
        cli.usage_error(prog, f"--x/--x-prime apply only to ARCH shallow, not {args.arch}")
    args.x = 0.0 if args.x is None else args.x
    args.x_prime = 1.0 if args.x_prime is None else args.x_prime
    spec = spec_from_args(args, prog)
    try:
        doc = predict(spec, args.model, args.x, args.x_prime, 0.0 if args.c0 is None else args.c0,
                      args.batch_size, args.bn_backward or "constant", curves=args.curve)
    except SpecError as exc:
        cli.usage_error(prog, "--" + exc.field.replace("_", "-").replace("bn-backward", "bn-backward")
                        + f": {exc}")
    if args.json:
        if not args.curve:
            doc.pop("curves", None)
            doc.pop("layer_curves", None)
        cli.dump_json(doc)
        return cli.EXIT_OK
    assumption = ("exact: gates decided by the biases, no assumption" if isinstance(spec, ShallowSpec)
                  else "Assumption 1: gates p = 1/2, co-active q = 1/4" if args.model == "path"
                  else f"N -> infinity, c0 = {doc['c0']:g}, batch M = {doc['batch_size']}"
                       + (f", BN backward {doc['bn_backward']}" if doc.get("bn_backward") else ""))
    print(f"{spec.describe()}  —  model: {args.model} ({assumption})")
    rows = [(k, cli.format_number(doc[k], 8)) for k in ("variance", "covariance", "correlation")]
    if isinstance(spec, ShallowSpec):
        rows.insert(0, ("inputs x, x'", f"{args.x:g}, {args.x_prime:g}"))
        rows.append(("formula", doc["formula"]))
    print(cli.text_table(("quantity", "value"), rows, max_width=90))
    if "depth_convention" in doc:
        print("\n" + DEPTH_CONVENTION)
    if args.curve and "curves" in doc:
        c = doc["curves"]
        print()
        print(cli.text_table(("d", "variance", "covariance", "correlation"),
                             [(d, cli.format_number(v), cli.format_number(cv), cli.format_number(r))
                              for d, v, cv, r in zip(c["depth"], c["variance"], c["covariance"], c["correlation"])]))
    return cli.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
