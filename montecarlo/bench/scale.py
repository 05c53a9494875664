"""``python -m montecarlo.bench.scale``: how the verifier's work grows with networks, depth and width.

    python -m montecarlo.bench.scale [--nets S] [--verify FILE] [--json]

Measured, on this machine in this run (issue 16, item 5):

* **cost per network** of each Monte Carlo experiment as the verifier runs it (:func:`montecarlo.
  runner.estimate`, all cores, no store): typical pairs (reverse mode, ``2·pairs`` inputs),
  real networks and the path model, and the 1-D grid (forward mode, 256 points), over depth
  ``L`` and width ``N``.  The work of a network is ``inputs · N² · L`` multiply-adds, so the cost
  grows linearly in ``L`` and networks and about as ``N²`` (less at small ``N``, where the
  elementwise work and the products' lower efficiency weigh more);
* **the verifier's plan** (:func:`montecarlo.evidence.plan`) under the default settings and under
  ``--full``: for each group its pilot and the most it can reach (:func:`montecarlo.evidence.largest_size`:
  its cap ``min(max_nets, flops_per_run / flops per network)``, or what the rounds allow), the cost of one of its networks measured here on ``--nets`` networks, and so the
  most the group can take (every group grown to its cap) and what its pilot takes.  The run's
  real time lies between the two totals: groups stop growing once decided.  ``--verify FILE``
  (a ``python -m theory.verify --json`` document) adds what each group really took.

Times are wall seconds with every core of this process busy (the engine's threads); the
symbolic checks (≈ 8 s here) are not included.  ``--workers K`` (a local Dask cluster) or
``--scheduler ADDRESS`` divides the Monte Carlo part by the number of machines' cores it
reaches: on one machine it gains nothing over the engine's threads (see
:mod:`montecarlo.bench.distributed`), across machines it is the way to run ``--full``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from theory.claims import CLAIMS
from theory.cli import command
from theory.specs import FeedforwardSpec, NetworkSpec, ResnetSpec

from .. import evidence
from ..runner import estimate

#: depth × width grid of the cost-per-network table
SIZES = ((10, 64), (10, 200), (50, 100), (50, 200), (100, 200), (10, 400))


def cost_per_network(experiment: str, spec: NetworkSpec, model: str, nets: int, pairs: int = 32) -> float:
    """Wall seconds per network of one run of ``nets`` networks (after an untimed run of 2)."""
    options = {"pairs": pairs} if experiment == "pairs" else {}
    estimate(spec, experiment, model=model, nets=2, seed=1, chunk=8, **options)
    t0 = time.perf_counter()
    estimate(spec, experiment, model=model, nets=nets, seed=2, chunk=8, **options)
    return (time.perf_counter() - t0) / nets


def size_table(nets: int) -> list[dict]:
    """Cost per network over depth and width for the three kinds of run, ff ReLU and BN resnet."""
    rows = []
    for depth, width in SIZES:
        for label, spec in (("ff", FeedforwardSpec(depth=depth, width=width)),
                            ("resnet-bn", ResnetSpec(depth=depth, width=width, beta=1.0, norm="bn"))):
            for experiment, model in (("pairs", "real"), ("pairs", "path"), ("grid", "real")):
                per = cost_per_network(experiment, spec, model, nets)
                work = (256 if experiment == "grid" else 64) * width ** 2 * depth
                rows.append({"arch": label, "depth": depth, "width": width, "experiment": experiment,
                             "model": model, "ms_per_network": 1e3 * per, "ns_per_unit_work": 1e9 * per / work})
    return rows


def plan_table(settings: evidence.Settings, nets: int, measured: dict | None = None) -> dict:
    """Each group of the verifier's plan: pilot, cap, cost per network, seconds at pilot and at cap."""
    comparisons = evidence.plan(CLAIMS, settings)
    groups, scales = evidence.group_comparisons(comparisons), evidence.group_scales(comparisons)
    out, costs = [], {}
    for key in groups:
        experiment, spec, model = key
        pilot, cap = evidence.group_budget(key, settings)[0], evidence.largest_size(key, settings, scales[key])
        if key not in costs:
            costs[key] = cost_per_network(experiment, spec, model, nets, settings.pairs)
        row = {"experiment": experiment, "spec": spec.describe(), "model": model, "pilot": pilot, "cap": cap,
               "ms_per_network": 1e3 * costs[key], "pilot_s": pilot * costs[key], "cap_s": cap * costs[key]}
        if measured is not None:
            got = measured.get((experiment, spec.describe(), model))
            if got is not None:
                row["verify_nets"], row["verify_s"] = got["nets"], got["seconds"]
        out.append(row)
    return {"groups": out, "pilot_s": sum(r["pilot_s"] for r in out), "cap_s": sum(r["cap_s"] for r in out),
            "verify_s": sum(r.get("verify_s", 0.0) for r in out) if measured is not None else None}


def format_report(doc: dict) -> str:
    lines = [f"cost per network (ms, wall, all {doc['cores']} cores; {doc['nets']} networks per cell)",
             f"  {'arch':10s} {'L':>4s} {'N':>4s}  {'pairs real':>11s} {'pairs path':>11s} {'grid real':>10s}"]
    cells: dict = {}
    for r in doc["sizes"]:
        cells.setdefault((r["arch"], r["depth"], r["width"]), {})[(r["experiment"], r["model"])] = r
    for (arch, depth, width), c in cells.items():
        lines.append(f"  {arch:10s} {depth:4d} {width:4d}  {c[('pairs', 'real')]['ms_per_network']:11.2f} "
                     f"{c[('pairs', 'path')]['ms_per_network']:11.2f} {c[('grid', 'real')]['ms_per_network']:10.2f}")
    for name, plan in doc["plans"].items():
        lines.append("")
        lines.append(f"verify {name}: {len(plan['groups'])} groups; every group at its pilot "
                     f"{plan['pilot_s']:.0f} s, every group at its cap {plan['cap_s']:.0f} s "
                     f"({plan['cap_s'] / 3600:.2f} h)" + (
                         f"; the --verify document's groups: {plan['verify_s']:.0f} s summed over groups (they overlap: "
                         "up to four are sampled side by side)" if plan.get("verify_s") is not None else ""))
        top = sorted(plan["groups"], key=lambda r: -r["cap_s"])[:8]
        lines.append(f"  {'group (largest at cap)':58s} {'model':>5s} {'ms/net':>8s} {'pilot':>6s} {'cap':>6s} "
                     f"{'s at cap':>9s}")
        for r in top:
            lines.append(f"  {(r['experiment'] + ' ' + r['spec'])[:58]:58s} {r['model']:>5s} "
                         f"{r['ms_per_network']:8.2f} {r['pilot']:6d} {r['cap']:6d} {r['cap_s']:9.1f}")
    return "\n".join(lines) + "\n"


def _measured_runs(path: str) -> dict:
    with open(path) as f:
        doc = json.load(f)
    return {(r["experiment"], r["spec"], r["model"]): r for r in doc.get("runs", [])}


@command("python -m montecarlo.bench.scale")
def main(argv: list[str] | None = None) -> int:
    import os
    p = argparse.ArgumentParser(prog="python -m montecarlo.bench.scale",
                                description="Cost per network over depth and width, and what the verifier's "
                                            "default and --full plans cost on this machine (measured).")
    p.add_argument("--nets", type=int, default=32, help="networks timed per cell and per group (default 32)")
    p.add_argument("--verify", metavar="FILE", help="a `python -m theory.verify --json` document: add what "
                                                    "its groups took")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = p.parse_args(argv)
    if args.nets < 2:
        print(f"error: --nets={args.nets} is not allowed: >= 2", file=sys.stderr)
        return 2
    measured = None
    if args.verify:
        try:
            measured = _measured_runs(args.verify)
        except (OSError, ValueError) as err:
            print(f"error: --verify {args.verify}: cannot be read as a verify --json document ({err})",
                  file=sys.stderr)
            return 2
    doc = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cores": len(os.sched_getaffinity(0)),
           "nets": args.nets, "sizes": size_table(args.nets),
           "plans": {"default": plan_table(evidence.DEFAULT, args.nets, measured),
                     "--full": plan_table(evidence.FULL, args.nets)}}
    print(json.dumps(doc) if args.json else format_report(doc), end="\n" if args.json else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
