"""montecarlo.convnets.specs: validated run configurations, the CLI flags and commands derived from them,
and a package that readers import without torch."""
from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from montecarlo.convnets import documents as CD
from montecarlo.convnets.specs import (FIG5_ARCHS, FIG6_TRAINING_ARCHS, FIG5_BN_ARCHS, PAPER_DEPTHS, PLAIN_ARCHS, TRAINING_ARCHS,
                                       TRAINING_FULL_PRESET, TRAINING_MIN_DEPTH, Fig5Config, TrainConfig,
                                       TrainingPlan, fig5_options, training_options)
from theory.options import BN_BACKWARDS
from theory.specs import SpecError

REPO = Path(__file__).resolve().parents[1]


def test_readers_import_documents_evidence_and_specs_without_torch():
    code = ("import sys, json\n"
            "import montecarlo.convnets.documents, montecarlo.convnets.evidence, montecarlo.convnets.specs\n"
            "import montecarlo.convnets.training_evidence\n"
            "import montecarlo.convnets\n"
            "print(json.dumps(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_lazy_package_exports_the_functions_even_after_their_submodule_loads():
    code = ("import montecarlo.convnets.experiments  # loads the submodule montecarlo.convnets.probe\n"
            "from montecarlo.convnets import probe, build, load_cifar10\n"
            "import montecarlo.convnets as C\n"
            "assert callable(probe) and probe.__module__ == 'montecarlo.convnets.probe', probe\n"
            "assert C.probe is probe and build.__module__ == 'montecarlo.convnets.models'\n"
            "assert 'probe' in dir(C) and sorted(C.__all__) == C.__all__\n"
            "try:\n    C.no_such_name\nexcept AttributeError as e:\n    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "no_such_name" in proc.stdout


def test_one_tuple_per_purpose():
    assert FIG5_ARCHS == FIG5_BN_ARCHS + PLAIN_ARCHS  # the index is part of the networks' seeds
    assert FIG5_ARCHS == ("feedforward", "resnet", "crelu-ll", "prelu-ll", "crelu-he", "relu-he")
    assert TRAINING_ARCHS[:4] == ("crelu-ll", "crelu-he", "relu-he", "resnet")  # appended only: seeds keep
    assert TRAINING_ARCHS == ("crelu-ll", "crelu-he", "relu-he", "resnet", "prelu-ll")
    assert FIG6_TRAINING_ARCHS == TRAINING_ARCHS[:4] and TrainingPlan().archs == FIG6_TRAINING_ARCHS
    assert PAPER_DEPTHS == (2, 4, 10, 24, 50) and Fig5Config().depths == PAPER_DEPTHS
    assert Fig5Config().bn_backward == "through" and "through" in BN_BACKWARDS
    assert CD.DEFAULT_SETTING == ("cross_entropy", "through")


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs, field", [
    (dict(depths=(2, 3)), "depths"), (dict(depths=()), "depths"), (dict(depths=(0,)), "depths"),
    (dict(depths=(2, 2)), "depths"), (dict(archs=("densenet",)), "archs"), (dict(archs=()), "archs"),
    (dict(archs=("resnet", "resnet")), "archs"), (dict(loss="mse"), "loss"), (dict(minibatches=0), "minibatches"),
    (dict(batch_size=1), "batch_size"), (dict(beta=0.0), "beta"), (dict(beta=float("inf")), "beta"),
    (dict(width=0), "width"), (dict(bn_backward="exact"), "bn_backward"), (dict(split="valid"), "split"),
    (dict(seed=-1), "seed"), (dict(threads=0), "threads"), (dict(width=True), "width"),
])
def test_fig5_config_rejects_bad_values_naming_the_field(kwargs, field):
    with pytest.raises(SpecError) as info:
        Fig5Config(**kwargs)
    assert info.value.field == field and "is not allowed" in str(info.value)


def test_fig5_config_normalizes():
    c = Fig5Config(depths=[1, 3], archs=["crelu-ll"], bn_backward="autograd")
    assert c.depths == (1, 3) and c.archs == ("crelu-ll",) and c.bn_backward == "through"  # odd: no BN nets
    assert hash(c) == hash(Fig5Config(depths=(1, 3), archs=("crelu-ll",)))
    stored = dict(c.options(), bn_backward="autograd", torch_threads=2)
    del stored["split"]  # documents of older code
    assert Fig5Config.from_options(stored) == dataclasses.replace(c, threads=2)


@pytest.mark.parametrize("kwargs, field", [
    (dict(lr=0.0), "lr"), (dict(lr_window=1), "lr_window"), (dict(lr_patience=0), "lr_patience"),
    (dict(lr_factor=1.0), "lr_factor"), (dict(lr_threshold=float("nan")), "lr_threshold"),
    (dict(device="tpu"), "device"), (dict(torch_threads=0), "torch_threads"), (dict(augment=1), "augment"),
    (dict(batch_size=2000), "batch_size"), (dict(measurements_per_epoch=40), "measurements_per_epoch"),
    (dict(train_images=0), "train_images"), (dict(beta=-1.0), "beta"),
])
def test_train_config_rejects_bad_values_naming_the_field(kwargs, field):
    with pytest.raises(SpecError) as info:
        TrainConfig(**kwargs)
    assert info.value.field == field


@pytest.mark.parametrize("kwargs, field", [
    (dict(depths=(6,)), "depths"), (dict(depths=(9,)), "depths"), (dict(depths=(8, 8)), "depths"),
    (dict(archs=("feedforward",)), "archs"), (dict(seeds=0), "seeds"), (dict(epochs=0), "epochs"),
    (dict(config={"lr": 1e-3}), "config"),
])
def test_training_plan_rejects_bad_values_naming_the_field(kwargs, field):
    with pytest.raises(SpecError) as info:
        TrainingPlan(**kwargs)
    assert info.value.field == field
    assert TRAINING_MIN_DEPTH == 8


# ----------------------------------------------------------------------------- derived options
def test_fig5_flags_and_defaults_come_from_the_config_fields():
    from montecarlo.convnets.cli import build_parser
    parser = build_parser()
    args = parser.parse_args([])
    flags = {a.dest: a for a in parser._actions}
    for f in dataclasses.fields(Fig5Config):
        assert getattr(args, f.name) == f.default, f.name
        assert flags[f.name].help and f.name.replace("_", "-") in flags[f.name].option_strings[0]
    assert {o.name for o in fig5_options()} == {f.name for f in dataclasses.fields(Fig5Config)}
    assert parser.parse_args(["--bn-backward", "autograd"]).bn_backward == "through"
    assert parser.parse_args(["--depths", "2,4", "--archs", "resnet, feedforward"]).archs == ("resnet", "feedforward")
    with pytest.raises(SystemExit):
        parser.parse_args(["--bn-backward", "exact"])


def test_fig5_command_line_rebuilds_the_config():
    from montecarlo.convnets.cli import build_parser, config_from_args
    config = Fig5Config(depths=(2, 4), archs=("resnet",), loss="sum", bn_backward="constant", minibatches=3,
                        batch_size=8, beta=0.25, width=4, split="test", seed=5, threads=1)
    command = CD.command_line(dict(config.options(), data="/some where"), store="/tmp/s.sqlite")
    assert command.startswith("python -m montecarlo.convnets --depths 2,4 --archs resnet --loss sum")
    parser = build_parser()
    args = parser.parse_args(shlex.split(command)[3:])
    assert config_from_args(parser, args) == config
    assert args.data == "/some where" and args.store == "/tmp/s.sqlite"


def test_train_flags_derive_from_plan_and_config_with_preset_help():
    from montecarlo.convnets.train import build_parser, cli_options
    names = [o.name for o in training_options()]
    assert "data_sha256" not in names and set(names) == (
        {f.name for f in dataclasses.fields(TrainConfig)} - {"data_sha256"}
        | {f.name for f in dataclasses.fields(TrainingPlan)} - {"config"})
    helps = {o.name: o.help_text() for o in cli_options()}
    assert "(default 8,20,50; --full: 10,22,50,98,198)" in helps["depths"]
    assert "1000; --full: all)" in helps["train_images"] and "1; --full: torch's choice)" in helps["torch_threads"]
    assert set(TRAINING_FULL_PRESET) <= set(names)
    text = build_parser().format_help()
    for flag in ("--no-augment", "--threads", "--lr-threshold", "--measurements-per-epoch", "--no-store", "--full"):
        assert flag in text


def test_fig6_command_line_rebuilds_the_plan():
    from montecarlo.convnets.train import _resolve, build_parser
    config = TrainConfig(seed=3, train_images=64, test_images=16, batch_size=16, lr=1e-3, measurements_per_epoch=2,
                         lr_threshold=0.02, augment=False, torch_threads=2, data_sha256="0" * 16)
    plan = TrainingPlan(archs=("resnet", "crelu-ll"), depths=(8, 12), seeds=3, epochs=2, config=config)
    doc = {"kind": "fig6-training", "preset": "full", "options": plan.key() | {"data": "/d"}}
    command = CD.fig6_command_line(doc)
    assert command.startswith("python -m montecarlo.convnets.train --full --archs resnet,crelu-ll --depths 8,12 "
                              "--seeds 3 --epochs 2 ") and "--no-augment" in command
    parser = build_parser()
    args = parser.parse_args(shlex.split(command)[3:])
    got, values = _resolve(parser, args)
    assert (got.archs, got.depths, got.seeds, got.epochs) == (plan.archs, plan.depths, plan.seeds, plan.epochs)
    measured = {"data_sha256"}
    assert {k: v for k, v in values.items() if k not in measured} == {
        k: v for k, v in config.key().items() if k not in measured}
    assert TrainingPlan.from_options(doc["options"]) == plan
