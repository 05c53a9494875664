"""Deep networks in ``theory.predict``: the three numbers without a loop over the layers, and the limits.

The fast path (:func:`theory.pathsum.product_of_factors`, ``path_moments(curves=False)``) must give
the numbers of the layer-by-layer product (``curves=True``, the last entry of its curves) to within
rounding at 30 digits, and the same JSON numbers; depths beyond the stated limits exit 2.
"""
import itertools
import json

import mpmath
import pytest

from theory import predict
from theory.pathsum import LOOP_LAYERS, path_moments
from theory.specs import make_spec

KEYS = ("variance", "covariance", "correlation")


def _specs(depth: int):
    yield make_spec("ff", depth=depth)
    yield make_spec("ff", depth=depth, norm="center")
    yield make_spec("ff", depth=depth, norm="bn", weight_gain=1.3)
    yield make_spec("highway", depth=depth)
    yield make_spec("highway", depth=depth, gamma1=0.6)
    yield make_spec("crelu-ll", depth=depth)
    for alpha, beta, norm in itertools.product((1.0, 2 ** -0.5, 0.9, 1.2), (0.0, 0.1, 1.0), ("none", "bn")):
        yield make_spec("resnet", depth=depth, alpha=alpha, beta=beta, norm=norm)


def _assert_same(fast, slow, rel=1e-25):
    for k in KEYS:
        assert abs(fast[k] - slow[k]) <= rel * abs(slow[k]), (k, fast[k], slow[k])
        assert predict.cli.json_number(fast[k]) == predict.cli.json_number(slow[k]), k


@pytest.mark.parametrize("depth", [1, 2, 5, 40, 300])
def test_fast_path_equals_the_layer_by_layer_product(depth):
    for spec in _specs(depth):
        _assert_same(path_moments(spec, curves=False), path_moments(spec))


@pytest.mark.parametrize("alpha", [0.999, 1.001])
def test_euler_maclaurin_tail_equals_the_product(alpha):
    """BN resnets with α close to 1: the factor still varies after LOOP_LAYERS layers (the tail is
    summed by Euler–Maclaurin); compared with the product over every layer."""
    spec = make_spec("resnet", depth=LOOP_LAYERS + 700, alpha=alpha, beta=1.0, norm="bn")
    _assert_same(path_moments(spec, curves=False), path_moments(spec))


def test_deep_closed_forms(capsys):
    """Depth 10^7 answers: 2^-L for a feedforward net, (3/4)^L for a resnet, e^(-1/2) for the highway."""
    L = 10 ** 7
    mpmath.mp.dps = 30
    assert predict.main(["ff", "--depth", str(L), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["variance"] == 1.0
    assert doc["correlation"] == mpmath.nstr(mpmath.mpf(2) ** -L, 17)
    assert predict.main(["resnet", "--depth", str(L), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["correlation"] == mpmath.nstr(mpmath.mpf(0.75) ** L, 17)
    assert predict.main(["highway", "--depth", str(L), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["correlation"] == pytest.approx(mpmath.e ** -0.5, rel=1e-7)
    # Thm 3 (alpha = 1): the variance of a BN resnet is 1 + L beta^2 c/2, exactly
    assert predict.main(["resnet", "--depth", str(L), "--beta", "1", "--norm", "bn", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["variance"] == pytest.approx(1.0 + L, rel=1e-14)


@pytest.mark.parametrize("argv, fragment", [
    (["ff", "--depth", str(predict.MAX_DEPTH + 1)], f"an integer in [1, {predict.MAX_DEPTH}]"),
    (["ff", "--depth", str(10 ** 7), "--model", "infinite-width"],
     f"an integer in [1, {predict.MAX_LAYERWISE_DEPTH}] with --model infinite-width"),
    (["resnet", "--depth", str(10 ** 7), "--curve"], f"an integer in [1, {predict.MAX_LAYERWISE_DEPTH}] with --curve"),
])
def test_depth_beyond_the_limit_is_a_usage_error(capsys, argv, fragment):
    with pytest.raises(SystemExit) as exc:
        predict.main(argv + ["--json"])
    assert exc.value.code == 2
    err = capsys.readouterr()
    assert err.out == ""
    assert f"--depth: depth={argv[2]} is not allowed" in err.err and fragment in err.err


def test_limits_are_ordered():
    assert 1 < predict.MAX_LAYERWISE_DEPTH < predict.MAX_DEPTH
