"""Spec validation: every bad field is rejected with a message naming field, value and range."""
import dataclasses
import math

import pytest
from hypothesis import given

from theory.specs import (CReLULLSpec, FeedforwardSpec, HighwaySpec, ResnetSpec, ShallowSpec, SpecError,
                          make_spec, spec_from_dict)

from .strategies import any_deep_spec

BAD_FIELDS = [
    (FeedforwardSpec, "depth", 0), (FeedforwardSpec, "depth", -3), (FeedforwardSpec, "depth", 2.5),
    (FeedforwardSpec, "depth", True), (FeedforwardSpec, "width", 0), (FeedforwardSpec, "width", "200"),
    (FeedforwardSpec, "weight_gain", 0.0), (FeedforwardSpec, "weight_gain", -1.0),
    (FeedforwardSpec, "weight_gain", math.nan), (FeedforwardSpec, "norm", "layer"),
    (ResnetSpec, "alpha", 0.0), (ResnetSpec, "alpha", math.inf), (ResnetSpec, "beta", -0.1),
    (ResnetSpec, "norm", "BN"), (HighwaySpec, "gamma1", 1.5), (HighwaySpec, "gamma2", -0.2),
    (ShallowSpec, "depth", 2), (ShallowSpec, "bias_std", 0.0), (CReLULLSpec, "init", "he"),
]


@pytest.mark.parametrize("cls, field, value", BAD_FIELDS)
def test_bad_field_is_rejected_with_a_message_naming_it(cls, field, value):
    with pytest.raises(SpecError) as info:
        cls(**{field: value})
    message = str(info.value)
    assert message.startswith(f"{field}={value!r} is not allowed")
    assert info.value.field == field and "allowed" in message


def test_highway_rejects_gammas_off_the_unit_circle():
    with pytest.raises(SpecError, match=r"gamma1\^2 \+ gamma2\^2 = 1"):
        HighwaySpec(gamma1=0.6, gamma2=0.6)
    spec = HighwaySpec(gamma1=0.6, gamma2=0.8)
    assert spec.gamma1_sq == pytest.approx(0.36) and spec.gamma2_sq == pytest.approx(0.64)


def test_highway_default_follows_the_depth():
    spec = HighwaySpec(depth=40)
    assert spec.uses_default_gates and spec.gamma1_sq == pytest.approx(1 - 1 / 40)
    assert spec.with_depth(10).gamma1_sq == pytest.approx(0.9)
    assert HighwaySpec(gamma2=0.6).gamma1_sq == pytest.approx(0.64)


def test_specs_are_frozen():
    spec = ResnetSpec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.beta = 0.5  # type: ignore[misc]


def test_make_spec_names_unknown_arch_and_fields():
    with pytest.raises(SpecError, match=r"arch='vgg' is not allowed: one of ff, resnet"):
        make_spec("vgg")
    with pytest.raises(SpecError, match=r"beta=0.1 is not allowed: not a field of ff"):
        make_spec("ff", beta=0.1)
    assert make_spec("resnet", beta=0.1, norm="bn", depth=None) == ResnetSpec(beta=0.1, norm="bn")


def test_numpy_integers_are_accepted():
    np = pytest.importorskip("numpy")
    assert FeedforwardSpec(depth=np.int64(5)).depth == 5


@given(any_deep_spec)
def test_round_trip_through_dict(spec):
    assert spec_from_dict(spec.to_dict()) == spec
    assert spec.describe().startswith(spec.arch + "(")
    assert spec.weight_variance == pytest.approx(spec.weight_gain / spec.width)
