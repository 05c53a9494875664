"""``python -m theory.derive``: print a derivation step by step (plain text or LaTeX).

    python -m theory.derive NAME [NAME ...] [--latex]

NAME is a claim id (``thm3b``, ``cor1-limit``, …; see ``python -m theory.verify --list``) or a
derivation name: ff, ff-bn, resnet, resnet-bn, highway, highway-limit, thm3-asymptotics,
shallow, crelu-ll.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from . import cli
from . import derivations as D
from .claims import CLAIMS_BY_ID
from .derivation import Derivation

DERIVATIONS: dict[str, Callable[[], Derivation]] = {
    "ff": lambda: D.derive_feedforward("none"),
    "ff-center": lambda: D.derive_feedforward("center"),
    "ff-bn": lambda: D.derive_feedforward("bn"),
    "resnet": D.derive_resnet,
    "resnet-bn": D.derive_resnet_bn,
    "thm3-asymptotics": D.thm3_asymptotics,
    "highway": D.derive_highway,
    "highway-limit": D.highway_limit,
    "shallow": D.derive_shallow,
    "crelu-ll": D.derive_crelu_ll,
}


def resolve(name: str) -> Callable[[], Derivation]:
    if name in DERIVATIONS:
        return DERIVATIONS[name]
    claim = CLAIMS_BY_ID.get(name)
    if claim is not None and claim.derivation is not None:
        return claim.derivation
    allowed = list(DERIVATIONS) + [c for c, v in CLAIMS_BY_ID.items() if v.derivation is not None]
    raise KeyError(f"NAME={name!r} is not allowed: one of {', '.join(allowed)}")


@cli.command("python -m theory.derive")
def main(argv: Sequence[str] | None = None) -> int:
    p = cli.Parser(prog="python -m theory.derive",
                   description="Print the path-counting derivation behind a claim, step by step.",
                   epilog="Derivations: " + ", ".join(DERIVATIONS) + "; or any claim id with a derivation.",
                   formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="+", metavar="NAME", help="derivation name or claim id")
    p.add_argument("--latex", action="store_true", help="LaTeX (an enumerate list per derivation)")
    args = p.parse_args(argv)
    try:
        builders = [resolve(n) for n in args.names]
    except KeyError as exc:
        cli.usage_error(p.prog, str(exc.args[0]))
    for i, build in enumerate(builders):
        d = build()
        if i:
            print()
        print(d.as_latex() if args.latex else d.as_text())
    return cli.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
