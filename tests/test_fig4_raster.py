"""Fig. 4's raster plots: one network's gates recomputed by the Monte Carlo side, stored as a
``grid-raster`` document, read back by the report (which never samples) and drawn."""
from __future__ import annotations

import numpy as np
import pytest

from kernels import get_kernel
from montecarlo import networks
from montecarlo import raster as R
from montecarlo.observables import GridExperiment, layer_activation_summary
from montecarlo.chunks import experiment_of, make_experiment
from montecarlo.runner import estimate
from montecarlo.store import RunKey, Store, engine_version
from reports import figures as F
from reports.catalog import fig4_entries, fig4_layers
from reports.cli import main as report_main
from reports.data import load_inputs
from reports.produce import main as produce_main
from tests.test_reports import _assert_images, no_sampling, synthetic_grid  # noqa: F401 (fixture)
from theory.specs import FeedforwardSpec, ResnetSpec, ShallowSpec, SpecError

SPECS = {"ff-none": FeedforwardSpec(depth=6, width=16, norm="none"),
         "ff-bn": FeedforwardSpec(depth=6, width=16, norm="bn"),
         "resnet-bn": ResnetSpec(depth=6, width=16, beta=1.0, norm="bn"),
         "shallow": ShallowSpec(width=16)}


# ----------------------------------------------------------------------------- the network is reproduced
@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_raster_is_the_runs_network(name, backend):
    """Network 2 of a 4-network chunk, recomputed alone: the kernel's gates bit for bit, and its
    stored gate statistics (proportions, level histogram, run lengths) recomputed exactly."""
    exp = GridExperiment(SPECS[name], points=32, max_lag=4)
    rows = exp.summaries(7, range(4), backend)
    gates = exp.raster(7, network=2, backend=backend)
    assert gates.dtype == bool and gates.shape == (exp.layers, 16, 32)
    props, levels, runs = exp.gate_columns(rows[2])
    p, lv, rl = layer_activation_summary(gates, exp.level_bins)
    assert np.array_equal(p, props) and np.array_equal(lv, levels) and np.array_equal(rl, runs)
    # the raster's row means are the activation levels k_n/M behind the stored proportion
    assert np.array_equal(gates.mean(axis=2).mean(axis=1), props[:, 0])
    if not exp.shallow:
        _, active = networks.grid_derivative(exp.plan, get_kernel(backend), 7, range(4), 32,
                                             want_active=True, bias_std=exp.bias_std)
        assert np.array_equal(gates, active[2])
        sub = exp.raster(7, network=2, layers=[exp.layers, 1], backend=backend)
        assert np.array_equal(sub, active[2][[exp.layers - 1, 0]])
    # another network is another raster: the comparison above can fail
    other = R.GateRaster(tuple(range(1, exp.layers + 1)), exp.raster(7, 3, backend=backend), 3, 7)
    with pytest.raises(RuntimeError, match="does not reproduce"):
        R.check_against_row(exp, other, rows[2])


def test_raster_rejects_bad_arguments():
    exp = GridExperiment(SPECS["ff-none"], points=32, max_lag=4)
    for layers in ([0], [7], [1, 1], [], [1.5]):
        with pytest.raises(SpecError, match=r"layers=.* is not allowed: distinct integers in \[1, 6\]"):
            exp.raster(0, layers=layers, backend="numpy")
    with pytest.raises(SpecError, match="network=-1 is not allowed"):
        exp.raster(0, network=-1, backend="numpy")
    with pytest.raises(SpecError, match="seed=-2 is not allowed"):
        exp.raster(-2, backend="numpy")
    with pytest.raises(ValueError, match="row of shape"):
        exp.gate_columns(np.zeros(3))


# ----------------------------------------------------------------------------- stored as a document
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 7, 13), (2, 100, 256)])
def test_gates_pack_and_unpack(shape):
    gates = np.random.default_rng(sum(shape)).random(shape) < 0.3
    doc = R.encode_gates(gates)
    assert doc["shape"] == list(shape) and len(doc["bits"]) <= 4 * (gates.size // 24 + 1)  # 1 bit per gate, base64
    assert np.array_equal(R.decode_gates(doc), gates)
    with pytest.raises(ValueError, match="needs .* bytes"):
        R.decode_gates(dict(doc, shape=[shape[0] + 1, shape[1], 9]))
    with pytest.raises(ValueError, match="bool array"):
        R.encode_gates(gates.astype(np.uint8))


def test_raster_document_round_trip_and_never_recomputed(tmp_path, monkeypatch):
    spec = SPECS["ff-bn"]
    path = tmp_path / "s.sqlite"
    estimate(spec, "grid", nets=4, chunk=2, seed=5, backend="numpy", store=path, points=32, max_lag=4)
    exp = make_experiment(spec, "grid", "real", {"points": 32, "max_lag": 4})
    with Store(path) as st:
        w = R.write_raster(st, exp, 5, "numpy", network=3, layers=[1, 6])
        assert w.written and w.checked  # network 3's stored summary row was compared
        run = RunKey.of(exp, 5, "numpy")
        (doc,) = st.documents(R.RASTER_KIND)
        assert doc["code_version"] == engine_version() == run.code_version
        assert doc["key"] == {"spec": spec.to_dict(), "experiment": "grid", "options": exp.options() | {"backend": "numpy"},
                              "seed": 5, "network": 3, "layers": [1, 6]}
        assert doc["document"]["shape"] == [2, 16, 32] and doc["document"]["grid"]["points"] == 32
        found = R.find_raster(st, run, network=3)
        assert found.layers == (1, 6) and np.array_equal(found.gates, w.raster.gates)
        assert np.array_equal(found.layer(6), exp.raster(5, 3, [6], "numpy")[0])
        with pytest.raises(ValueError, match="layer=2 is not allowed: one of the stored layers 1, 6"):
            found.layer(2)
        assert R.find_raster(st, run, network=0) is None
        assert R.find_raster(st, RunKey.of(exp, 6, "numpy"), network=3) is None
        assert R.find_raster(st, run, network=3, layers=[1]) is None

        def boom(*args, **kwargs):
            raise AssertionError("recomputed a stored raster")
        monkeypatch.setattr(GridExperiment, "raster", boom)
        again = R.write_raster(st, exp, 5, "numpy", network=3, layers=[1, 6])
        assert not again.written and np.array_equal(again.raster.gates, w.raster.gates)
        assert len(st.documents(R.RASTER_KIND)) == 1


# ----------------------------------------------------------------------------- the figure
def _raster(gates: np.ndarray, layers=(1, 3)) -> R.GateRaster:
    return R.GateRaster(tuple(layers), gates, 0, 0)


def test_figure_4_draws_the_raster_sorted_by_activation(tmp_path):
    L, N, M = 3, 12, 32
    rng = np.random.default_rng(3)
    deep = np.zeros((N, M), dtype=bool)
    deep[:4] = True                    # always on
    deep[4:8] = rng.random((4, M)) < 0.5  # switching
    gates = np.stack([rng.random((N, M)) < 0.5, deep])
    res = synthetic_grid(F.white_noise(4, M, seed=2), depth=L)
    fig = F.figure_4([("with raster", res, _raster(gates)), ("without", res, None)], tmp_path)
    _assert_images(fig)
    shown = fig.data["with raster"]["raster"]
    assert shown["layer"] == 3  # the deepest stored layer
    levels = deep.mean(axis=1)
    assert np.array_equal(shown["image"], deep[shown["order"]])
    assert np.array_equal(shown["levels"], np.sort(levels)[::-1])  # row means = activation levels, sorted
    assert np.array_equal(shown["image"].mean(axis=1), shown["levels"])
    assert shown["never_switch"] == pytest.approx(8 / N)  # 4 always on, 4 always off
    assert "raster" not in fig.data["without"]
    assert fig.data["missing_rasters"] == ["without"]
    assert "No stored raster for without: `python -m reports.produce --rasters-only`" in fig.caption
    assert "with raster (layer 3): 0.67 never switch" in fig.caption
    assert "not shown" not in fig.caption and "not drawn" not in fig.caption
    unsorted = F.figure_4([("u", res, _raster(gates))], tmp_path, name="u", sort_rows=False, raster_layer=1)
    assert np.array_equal(unsorted.data["u"]["raster"]["image"], gates[0])
    assert "in neuron order" in unsorted.caption


def test_figure_4_without_any_raster_keeps_the_histograms(tmp_path):
    res = synthetic_grid(F.white_noise(4, 32, seed=2), depth=5)
    fig = F.figure_4([("a", res), ("b", res, None)], tmp_path, raster_command="CMD --store X")
    _assert_images(fig)
    assert sorted(fig.data["a"]["levels"]) == fig4_layers(5)
    assert fig.data["missing_rasters"] == ["a", "b"]
    assert "`CMD --store X` writes it" in fig.caption


# ----------------------------------------------------------------------------- produce → store → report
@pytest.fixture(scope="module")
def gate_store(tmp_path_factory):
    """The Fig. 4 runs at toy size (2 networks, 32 grid points) plus their rasters, via produce."""
    from reports.produce import run_grid, write_rasters
    path = tmp_path_factory.mktemp("raster") / "results.sqlite"
    names = [e.name for e in fig4_entries()]
    run_grid(str(path), names, 2, 0, 32, 8, "numpy", log=lambda *_: None)
    assert write_rasters(str(path), names, log=lambda *_: None) == len(names)
    return path


def test_report_draws_stored_rasters_without_sampling(gate_store, tmp_path, no_sampling):  # noqa: F811
    inputs = load_inputs(gate_store)
    for e in fig4_entries():
        s = inputs.grid[e.name]
        assert s.raster is not None and s.raster.layers == tuple(fig4_layers(e.spec.depth))
        assert s.raster.code_version == s.run.key.code_version
        assert s.raster.gates.shape == (3, e.spec.width, 32)
        # network 0's stored gate statistics are recomputed exactly from the stored raster
        with Store(gate_store) as st:
            exp, _ = experiment_of(s.run.key)
            first = min(st.chunk_ranges(s.run.key))
            R.check_against_row(exp, s.raster, st.load_chunk(s.run.key, *first, exp.width())[0])
            _, levels, _ = exp.gate_columns(st.load_chunk(s.run.key, *first, exp.width())[0])
        net0 = np.histogram(s.raster.activation_levels(e.spec.depth), bins=10, range=(0.0, 1.0))[0]
        assert np.array_equal(net0, levels[e.spec.depth - 1])
    out = tmp_path / "report"
    assert report_main(["--store", str(gate_store), "--out", str(out)]) == 0
    assert (out / "figures" / "fig4_contiguity.png").stat().st_size > 2000
    assert "never switch" in (out / "summary.md").read_text()


def test_rasters_only_serves_a_store_filled_by_montecarlo(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    spec = next(e.spec for e in fig4_entries() if e.name == "gates-ff-none")
    estimate(spec, "grid", nets=2, chunk=2, seed=3, backend="numpy", store=path, points=16, max_lag=2)
    assert load_inputs(path).grid["gates-ff-none"].raster is None
    assert produce_main(["--store", str(path), "--rasters-only"]) == 0
    assert "checked against its summary row" in capsys.readouterr().out
    s = load_inputs(path).grid["gates-ff-none"]
    assert s.raster is not None and s.raster.seed == 3 and s.raster.gates.shape == (3, spec.width, 16)
    with Store(path) as st:
        assert len(st.documents(R.RASTER_KIND)) == 1
    assert produce_main(["--store", str(path), "--rasters-only"]) == 0  # nothing new
    assert "already stored" in capsys.readouterr().out
