"""The probe (montecarlo.probe) on models whose answers are known: Thm 1's 2^-d with BN, a β = 0.1 BN
resnet that stays correlated, the looks-linear CReLU net (correlation 1), a shallow net (brown noise),
LayerNorm/GELU/dropout (runs, finite); hooks on shared and in-place modules; determinism; targets."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from montecarlo.probe import examples as E
from montecarlo.probe.document import build_document
from montecarlo.probe.measure import Inputs, ProbeError, run_probe
from montecarlo.probe.settings import ProbeSettings
from montecarlo.probe.target import TargetError, load_factory, parse_target
from theory.decision import DEPARTS, HOLDS, SUPPORTED, UNDECIDED
from theory.specs import SpecError


def probe(factory, shape, theory=None, theory_fields=None, **settings):
    settings.setdefault("threads", 1)
    run = run_probe(factory, Inputs(tuple(shape)), ProbeSettings(**settings))
    return build_document(run, target="test", command=[], theory=theory, theory_fields=theory_fields)


def correlations(doc):
    return {r["depth"]: r["correlation"] for r in doc["layers"]}


# ----------------------------------------------------------------------------- known models
def test_plain_bn_mlp_decays_as_two_to_the_minus_d():
    doc = probe(lambda: E.mlp(depth=6, width=100), (100,), "ff", {"norm": "bn"}, inits=12, batch_size=64,
                bn_backward="constant", path="none")
    corr = correlations(doc)
    assert sorted(corr) == list(range(6)) and corr[0]["mean"] == pytest.approx(1.0, abs=1e-6)
    for row in doc["layers"]:
        path = row["theory"]["path"]
        assert path["value"] == pytest.approx(2.0 ** -row["depth"])
        assert path["verdict"] != DEPARTS, row
        lo, hi = row["correlation"]["ci"]
        assert lo - 0.01 <= 2.0 ** -row["depth"] <= hi + 0.01  # within its interval (and the plots' resolution)
    assert doc["layers"][-2]["theory"]["path"]["verdict"] in SUPPORTED  # d = 1: 1/2, decided
    # the rate, not only the values: the slope of log correlation on d over d = 1..4 is log(1/2)
    d = np.arange(1, 5)
    slope = np.polyfit(d, np.log([corr[k]["mean"] for k in d]), 1)[0]
    assert math.exp(slope) == pytest.approx(0.5, abs=0.05)
    # Assumption 1 holds for BN nets: half active, a quarter co-active
    for g in doc["gates"]:
        assert g["activation"]["mean"] == pytest.approx(0.5, abs=0.03)
        assert g["coactivation"]["mean"] == pytest.approx(0.25, abs=0.03)


def test_bn_resnet_with_small_beta_stays_correlated():
    doc = probe(lambda: E.mlp(depth=6, width=100, beta=0.1), (100,), "resnet", {"beta": 0.1, "norm": "bn"},
                inits=10, batch_size=64, bn_backward="constant", path="none")
    for row in doc["layers"]:
        assert row["correlation"]["mean"] > 0.95
        assert row["white_band"]["verdict"] == DEPARTS
        assert row["theory"]["path"]["verdict"] in SUPPORTED + (UNDECIDED,)
    assert doc["summary"][0].startswith("Gradients never reach the white-noise band")


#: the README's example ("Check your own architecture"): these settings, both nets
README_EXAMPLE = dict(inits=32, batch_size=256, bn_backward="constant")


def test_deep_plain_net_reaches_the_white_band_and_the_resnet_does_not():
    """2^-d falls below the band's 0.01 at d = 7; far enough below it (d >= 8) the band is reached.
    The same blocks as a beta = 0.1 resnet stay above 0.9 (the statements of the README's example)."""
    doc = probe(lambda: E.mlp(depth=16, width=128), (128,), **README_EXAMPLE)
    verdicts = {r["depth"]: r["white_band"]["verdict"] for r in doc["layers"]}
    assert all(verdicts[d] == DEPARTS for d in range(0, 6))        # 1, 1/2, ..., 1/32: correlated
    deep = [verdicts[d] for d in range(8, 16)]                      # 2^-8 ... 2^-15: shattered
    assert DEPARTS not in deep and deep.count(HOLDS) >= 4, verdicts
    assert doc["summary"][0].startswith("Gradients reach the white-noise band")
    assert doc["path"]["verdicts"]["white"]["verdict"] == HOLDS    # df/dt along a line: white noise
    resnet = probe(lambda: E.mlp(depth=16, width=128, beta=0.1), (128,), **README_EXAMPLE)
    assert all(r["correlation"]["ci"][0] > 0.9 and r["white_band"]["verdict"] == DEPARTS for r in resnet["layers"])
    assert resnet["summary"][0].startswith("Gradients never reach the white-noise band")
    assert resnet["path"]["verdicts"]["white"]["verdict"] == DEPARTS


def test_looks_linear_crelu_net_has_correlation_one_everywhere():
    doc = probe(lambda: E.looks_linear(depth=4, width=6), (3, 6, 6), "crelu-ll", inits=8, batch_size=16,
                path_points=32, max_lag=4)
    assert [r["type"] for r in doc["layers"]] == ["CReLU"] * 4
    for row in doc["layers"]:
        assert row["correlation"]["mean"] == pytest.approx(1.0, abs=1e-5)
        assert row["theory"]["path"]["value"] == 1.0
    ig = doc["input_gradients"]
    assert ig["gradient_norm"]["mean"] == pytest.approx(1.0, abs=1e-5)            # identical gradients
    assert ig["relative_effective_rank"]["mean"] == pytest.approx(
        ig["baselines"]["identical_relative_effective_rank"], rel=1e-4)
    assert doc["path"]["constant_inits"] == 8 and doc["path"]["exponent"] is None  # a linear map: no series
    assert any("constant to rounding" in s for s in doc["summary"])


def test_one_layer_net_is_brown_noise_along_a_line():
    doc = probe(lambda: E.shallow(width=200, inputs=20), (20,), inits=16, batch_size=16)
    verdicts = doc["path"]["verdicts"]
    assert verdicts["brown"]["verdict"] == HOLDS, doc["path"]["exponent"]
    assert verdicts["white"]["verdict"] == DEPARTS
    base = doc["path"]["baselines"]
    assert base["brown"]["exponent"]["mean"] == pytest.approx(2.0, abs=0.15)
    assert base["white"]["exponent"]["mean"] == pytest.approx(0.0, abs=0.15)
    assert doc["path"]["acf"][1]["mean"] > 0.8


def test_layernorm_gelu_dropout_model_runs_with_finite_numbers():
    doc = probe(lambda: E.mixed(depth=3, width=32, inputs=16), (16,), inits=4, batch_size=8, loss="cross_entropy",
                path="random", path_points=32, max_lag=4)
    assert [r["type"] for r in doc["layers"]] == ["GELU"] * 3

    def numbers(x):
        if isinstance(x, dict):
            if {"mean", "stderr", "n"} <= set(x):
                yield x
            for k, v in x.items():
                if k != "baselines":  # reference noise: its own n
                    yield from numbers(v)
        elif isinstance(x, list):
            for v in x:
                yield from numbers(v)

    found = list(numbers({k: doc[k] for k in ("layers", "gates", "input_gradients", "path")}))
    assert len(found) > 20 and all(math.isfinite(n["mean"]) and n["n"] == 4 for n in found)
    assert any("a verdict needs at least 8" in n for n in doc["notes"])


def test_bn_backward_through_recentres_the_gradients():
    """Autograd through the batch statistics removes the common part: -1/(B-1), as the infinite width says."""
    doc = probe(lambda: E.mlp(depth=3, width=100), (100,), "ff", {"norm": "bn"}, inits=8, batch_size=32,
                bn_backward="through", path="none")
    d1 = next(r for r in doc["layers"] if r["depth"] == 1)
    assert d1["correlation"]["mean"] == pytest.approx(-1 / 31, abs=0.02)
    assert d1["theory"]["infinite_width"]["value"] == pytest.approx(-1 / 31, abs=0.005)
    assert any("path model treats BN statistics as constants" in n for n in doc["notes"])


# ----------------------------------------------------------------------------- hooks
class Twice(nn.Module):
    """One ReLU module called twice, and a BN followed by an in-place ReLU."""

    def __init__(self, inplace: bool = True):
        super().__init__()
        self.a, self.b = nn.Linear(12, 12), nn.Linear(12, 12)
        self.norm = nn.BatchNorm1d(12)
        self.relu = nn.ReLU(inplace=inplace)
        self.out = nn.Linear(12, 3)

    def forward(self, x):
        return self.out(self.relu(self.b(self.relu(self.norm(self.a(x))))))


def test_shared_modules_are_probed_per_call_and_in_place_ops_do_not_change_what_was_kept():
    kw = dict(inits=3, batch_size=8, layers=("norm", "relu"), path_points=32, max_lag=4)
    doc = probe(lambda: Twice(True), (12,), **kw)
    assert [r["name"] for r in doc["layers"]] == ["norm", "relu", "relu#2"]
    assert [g["name"] for g in doc["gates"]] == ["relu", "relu#2"]
    same = probe(lambda: Twice(False), (12,), **kw)  # the same parameters (same seeds), no in-place op
    for a, b in zip(doc["layers"], same["layers"]):
        assert a["correlation"] == b["correlation"] and a["variance"] == b["variance"]


def test_layer_patterns_match_names_and_class_names():
    by_class = probe(lambda: E.mlp(depth=3, width=16), (16,), inits=2, batch_size=4, layers=("Block",), path="none")
    by_name = probe(lambda: E.mlp(depth=3, width=16), (16,), inits=2, batch_size=4, layers=("blocks.?",),
                    path="none")
    assert [r["name"] for r in by_class["layers"]] == ["blocks.0", "blocks.1", "blocks.2"]
    assert by_class["layers"] == by_name["layers"]
    with pytest.raises(ProbeError, match="no module matches --layers nothing"):
        probe(lambda: E.mlp(depth=2, width=8), (8,), inits=2, batch_size=4, layers=("nothing",), path="none")


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_numbers_other_seed_other_numbers():
    kw = dict(inits=3, batch_size=8, path_points=32, max_lag=4)

    def numbers(doc):
        return {k: doc[k] for k in ("layers", "gates", "input_gradients", "path", "pair_input_cosine")}

    torch.manual_seed(123)
    before = torch.rand(1)
    a = probe(lambda: E.mixed(depth=2, width=16, inputs=8), (8,), seed=5, **kw)
    b = probe(lambda: E.mixed(depth=2, width=16, inputs=8), (8,), seed=5, **kw)
    c = probe(lambda: E.mixed(depth=2, width=16, inputs=8), (8,), seed=6, **kw)
    assert numbers(a) == numbers(b)       # dropout masks included: forward under the seeded generators
    assert numbers(a) != numbers(c)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), before)  # the caller's generator state is left as it was


# ----------------------------------------------------------------------------- settings and targets
@pytest.mark.parametrize("field, value", [("inits", 1), ("batch_size", 5), ("batch_size", 2), ("seed", -1),
                                          ("loss", "mse"), ("bn_backward", "sometimes"), ("device", "tpu"),
                                          ("path", "circle"), ("max_lag", 300), ("fwer", 0.0)])
def test_bad_settings_name_the_field(field, value):
    with pytest.raises(SpecError) as info:
        ProbeSettings(**{field: value})
    assert info.value.field == field and repr(value) in str(info.value)


def test_target_forms(tmp_path):
    t = parse_target("pkg.mod:Zoo.build(depth=3, name='a', sizes=(1, 2))")
    assert (t.module, t.attribute, t.kwargs) == ("pkg.mod", "Zoo.build", {"depth": 3, "name": "a", "sizes": (1, 2)})
    assert parse_target(r"C:\models\m.py:f").module == r"C:\models\m.py"
    file = tmp_path / "my_models.py"
    file.write_text("import torch\n\ndef net(width=4):\n    return torch.nn.Linear(3, width)\n\nVALUE = 3\n")
    assert load_factory(f"{file}:net(width=5)")().out_features == 5
    assert load_factory("montecarlo.probe.examples:mlp(depth=2, width=8)")().blocks[1].linear.in_features == 8
    for bad, words in [("no_colon", "expected MODULE:FACTORY"), ("no.such.module:f", "not importable"),
                       ("montecarlo.probe.examples:nothing", "has no attribute 'nothing'"),
                       (f"{file}:VALUE", "not callable"), (f"{tmp_path / 'absent.py'}:f", "does not exist"),
                       ("m:f(1, 2)", "only keyword arguments"), ("m:f(x=open('a'))", "not a Python literal"),
                       ("m:f(x=", "must close")]:
        with pytest.raises(TargetError, match=words):
            load_factory(bad)


class Heads(nn.Module):
    """A float64 model with a ReLU head the output never uses, or an output detached from the input."""

    def __init__(self, detach: bool = False):
        super().__init__()
        self.detach = detach
        self.body, self.relu, self.unused = nn.Linear(6, 6), nn.ReLU(), nn.ReLU()
        self.head = nn.Linear(6, 2)
        self.double()

    def forward(self, x):
        h = self.relu(self.body(x))
        self.unused(h * 2)  # computed, never used by the output
        out = self.head(h)
        return out.detach() if self.detach else out


def test_layers_off_the_gradient_path_are_left_out_and_float64_models_work():
    doc = probe(lambda: Heads(), (6,), inits=2, batch_size=4, path_points=16, max_lag=2)
    assert [r["name"] for r in doc["layers"]] == ["relu"]
    assert {g["name"] for g in doc["gates"]} == {"relu", "unused"}  # gates are counted wherever they are
    with pytest.raises(ProbeError, match="differentiating the output failed"):
        probe(lambda: Heads(detach=True), (6,), inits=2, batch_size=4, path="none")
