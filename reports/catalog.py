"""The 1-D grid experiments behind Fig. 1–4: one list, read by ``reports.produce`` and the report.

Each entry names a spec (:mod:`theory.specs`) and the figures that use it.  The report looks
each spec up in the results store (any seed, grid size and number of networks; the run with the
most networks of the current code version wins), so a store filled by ``python -m montecarlo
ARCH ... --experiment grid`` serves as well as one filled by ``python -m reports.produce``.

Choices (the paper leaves them open):

* feedforward nets in Fig. 1–2 use mean-centering (the paper's Fig. 1b does; without it
  co-activation climbs with depth and the ACF whitens far more slowly — Fig. 3 shows why);
* resnets in Fig. 2b use BN with beta = 1, Fig. 2c BN with beta = 0.1 (§3.3, eq. 2);
* Fig. 3–4 use N = 100 neurons per layer and 50 layers (the paper's Fig. 3 caption).
"""
from __future__ import annotations

from dataclasses import dataclass

from theory.specs import FeedforwardSpec, NetworkSpec, ResnetSpec, ShallowSpec

GRID_WIDTH = 200
GATE_WIDTH = 100
DEFAULT_NETS = 20  # the paper's Fig. 2: "average over 20 runs"
DEFAULT_SEED = 0


@dataclass(frozen=True)
class GridEntry:
    """One grid experiment: its label in the figures, its spec, the figures that use it."""

    name: str
    label: str
    spec: NetworkSpec
    figures: tuple[str, ...]


def _ff(depth: int, norm: str, width: int = GRID_WIDTH) -> FeedforwardSpec:
    return FeedforwardSpec(depth=depth, width=width, norm=norm)


def _res(depth: int, beta: float, width: int = GRID_WIDTH) -> ResnetSpec:
    return ResnetSpec(depth=depth, width=width, beta=beta, norm="bn")


GRID_ENTRIES: tuple[GridEntry, ...] = (
    GridEntry("shallow", "shallow (1 layer)", ShallowSpec(width=GRID_WIDTH), ("fig1", "fig2")),
    *(GridEntry(f"ff-center-{d}", f"ff, {d} layers, centred", _ff(d, "center"),
                ("fig1", "fig2") if d == 24 else ("fig2",)) for d in (2, 4, 10, 24, 50)),
    *(GridEntry(f"resnet-bn-beta1-{d}", f"resnet BN β=1, {d} layers", _res(d, 1.0), ("fig2",))
      for d in (2, 10, 50)),
    *(GridEntry(f"resnet-bn-beta0.1-{d}", f"resnet BN β=0.1, {d} layers", _res(d, 0.1),
                ("fig1", "fig2") if d == 50 else ("fig2",)) for d in (10, 50)),
    GridEntry("gates-ff-none", "ff, no BN", _ff(50, "none", GATE_WIDTH), ("fig3", "fig4")),
    GridEntry("gates-ff-bn", "ff, BN", _ff(50, "bn", GATE_WIDTH), ("fig3", "fig4")),
    GridEntry("gates-resnet-bn", "resnet, BN", _res(50, 1.0, GATE_WIDTH), ("fig4",)),
)

QUICK_NAMES = ("shallow", "ff-center-2", "ff-center-24", "resnet-bn-beta1-10", "resnet-bn-beta0.1-50",
               "gates-ff-none", "gates-ff-bn", "gates-resnet-bn")

BY_NAME = {e.name: e for e in GRID_ENTRIES}


def fig4_layers(depth: int) -> list[int]:
    """Layers shown in Fig. 4: the first, an early-middle one (``depth // 5``) and the last
    (distinct, 1-based; 1, 10, 50 at the paper's 50 layers).  One choice for both sides:
    ``reports.produce`` stores the raster of these layers, ``reports.figures`` plots them."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth={depth!r} is not allowed: an integer >= 1")
    return sorted({1, max(1, depth // 5), depth})


def fig4_entries() -> tuple[GridEntry, ...]:
    """The grid entries of Fig. 4 (their network 0 gets a stored gate raster)."""
    return tuple(e for e in GRID_ENTRIES if "fig4" in e.figures)


def entry(name: str) -> GridEntry:
    return BY_NAME[name]
