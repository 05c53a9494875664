"""Fig. 6 training experiment (montecarlo.convnets.thin_nets / .augment / .schedule / .training / .train)
on tiny configurations."""
import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from montecarlo.convnets import train as cli
from montecarlo.convnets.augment import augment
from montecarlo.convnets.schedule import AutoScheduler
from montecarlo.convnets.specs import TRAINING_ARCHS as ARCHS
from montecarlo.convnets.specs import TRAINING_MIN_DEPTH as MIN_DEPTH
from montecarlo.convnets.specs import TRAINING_STAGE_WIDTHS as STAGE_WIDTHS
from montecarlo.convnets.specs import TrainConfig
from montecarlo.convnets.thin_nets import build_thin, module_layout, parameter_count, stage_widths
from montecarlo.convnets.training import TRAINING_LAYOUT, checkpoint_dir_for, train_run
from montecarlo.store import Store

from .test_convnets_data import write_batch


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread (fast and deterministic on a shared 2-core machine); restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------- architecture
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("depth", [MIN_DEPTH, 14])
def test_thin_net_widths_double_at_the_stride2_reductions(arch, depth):
    net = build_thin(arch, depth, seed=0)
    widths = stage_widths(arch)
    base = STAGE_WIDTHS if not arch.startswith("crelu") else tuple(round(w / math.sqrt(2)) for w in STAGE_WIDTHS)
    assert widths == base and STAGE_WIDTHS == (8, 16, 32, 64)
    convs = net.convs()
    assert len(convs) == depth
    shapes = []
    hooks = [c.register_forward_hook(lambda m, i, o: shapes.append((m.stride[0], i[0].shape, o.shape)))
             for c in convs]
    out = net(torch.randn(3, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert out.shape == (3, 10)
    assert net.stem.out_channels == widths[0]
    reductions = [k for k, (stride, _, _) in enumerate(shapes) if stride == 2]
    assert len(reductions) == len(STAGE_WIDTHS) - 1
    mult = 2 if arch.startswith("crelu") else 1
    stage = 0
    for k, (stride, x, y) in enumerate(shapes):
        if stride == 2:
            stage += 1
            assert y[1] == widths[stage] and x[1] == mult * widths[stage - 1]
            assert y[2] * 2 == x[2] and y[3] * 2 == x[3]
            assert k % 2 == 0  # the reduction opens a block of two modules
        else:
            assert y[1] == widths[stage] and x[1] == mult * widths[stage] and y[2:] == x[2:]
    assert tuple(shapes[-1][2][1:]) == (widths[-1], 4, 4)
    assert net.classifier.in_features == widths[-1]
    # every stage holds at least one block, stage sizes differ by at most one block
    per_stage = np.bincount([m.stage for m in module_layout(depth)], minlength=4)
    assert per_stage.sum() == depth and per_stage.min() >= 2 and per_stage.max() - per_stage.min() <= 2


def test_crelu_nets_have_parameter_parity_with_relu_nets():
    relu = parameter_count(build_thin("relu-he", 20, seed=0))
    for arch in ("crelu-ll", "crelu-he"):
        assert abs(parameter_count(build_thin(arch, 20, seed=0)) / relu - 1) < 0.02
    assert parameter_count(build_thin("resnet", 20, seed=0)) == relu  # skips are parameter-free


@pytest.mark.parametrize("depth", [7, 6, 0, 9])
def test_bad_depth_is_rejected(depth):
    with pytest.raises(ValueError, match=f"depth={depth}.*even integer >= {MIN_DEPTH}"):
        build_thin("relu-he", depth)


def test_ll_init_thin_net_is_linear_at_init_and_he_init_is_not():
    """§5: with mirrored orthogonal kernels the whole net, reductions included, is one linear map."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 3, 3, 32, 32, generator=g, dtype=torch.float64)
    a, b = 0.7, -1.9

    def defect(arch):
        net = build_thin(arch, 12, seed=4).double()
        with torch.no_grad():
            lhs, rhs = net(a * x + b * y), a * net(x) + b * net(y)
        return float((lhs - rhs).abs().max() / rhs.abs().max())

    assert defect("crelu-ll") < 1e-12 and defect("prelu-ll") < 1e-12  # PReLU with a = 1: the other LL-init (§5)
    assert defect("crelu-he") > 1e-3 and defect("relu-he") > 1e-3


def test_ll_init_kernels_are_mirrored_orthogonal_centre_taps():
    net = build_thin("crelu-ll", 8, seed=1).double()
    for spec, conv in zip(net.layout, net.convs()):
        w = conv.weight.detach()
        half = w.shape[1] // 2
        torch.testing.assert_close(w[:, :half], -w[:, half:], atol=0, rtol=0)
        centre = w[:, :half, 1, 1]
        torch.testing.assert_close(centre.T @ centre, torch.eye(half, dtype=w.dtype), atol=1e-6, rtol=0)
        assert float(w[:, :half].abs().sum() - centre.abs().sum()) == 0


def test_resnet_skips_are_option_a_and_branches_scaled_by_beta():
    """Branches zeroed: the resnet is its skip path, the stem's output subsampled at the 3 reductions
    with zero-padded channels.  Only the last branch live: its contribution is linear in β."""
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)

    def net_with(beta, live_last):
        net = build_thin("resnet", 8, beta=beta, seed=2).double()
        with torch.no_grad():
            for conv in net.convs()[: -2 if live_last else None]:
                conv.weight.zero_()
        return net

    dead = net_with(0.1, False)
    with torch.no_grad():
        stem, skip = dead.stem(x), dead.features(x)
    assert skip.shape == (2, 64, 4, 4)
    torch.testing.assert_close(skip[:, :8], stem[:, :, ::8, ::8], atol=0, rtol=0)
    assert float(skip[:, 8:].abs().max()) == 0
    with torch.no_grad():
        one, two = net_with(0.1, True).features(x), net_with(0.2, True).features(x)
    assert float((one - skip).abs().max()) > 0
    torch.testing.assert_close(two - skip, 2 * (one - skip), atol=1e-12, rtol=1e-12)


# ----------------------------------------------------------------------------- LR scheduler
def _drops(s: AutoScheduler, losses):
    return [t for t, loss in enumerate(losses) if s.step(loss)]


def test_scheduler_drops_after_window_then_patience_on_a_flat_loss():
    window, patience = 6, 3
    s = AutoScheduler(1.0, window=window, patience=patience, threshold=1e-3, factor=0.5)
    drops = _drops(s, [2.0] * 40)
    # the first rate exists at measurement window−1; the threshold must stay crossed for `patience`
    # measurements; then the history is cleared and the same wait starts again
    gap = window + patience - 1
    assert drops == list(range(gap - 1, 40, gap))
    assert s.lr == 0.5 ** len(drops) and s.drops == drops


def test_scheduler_never_drops_while_the_loss_falls_fast_enough():
    s = AutoScheduler(1.0, window=10, patience=5, threshold=0.01)
    losses = 3.0 * 0.95 ** np.arange(100)  # relative decrease ≈ 5 % per measurement
    assert AutoScheduler.relative_rate(losses[:10]) > 0.01
    assert _drops(s, losses) == [] and s.lr == 1.0


def test_scheduler_count_restarts_when_the_threshold_is_uncrossed():
    window, patience, thr = 4, 3, 0.05
    losses = [1.0] * 5 + [0.5] + [0.5] * 30   # a sudden fall keeps the rate high for a while
    s = AutoScheduler(1.0, window=window, patience=patience, threshold=thr)
    # independent re-statement of the rule
    crossed, expected, hist = 0, [], []
    for t, loss in enumerate(losses):
        hist = (hist + [loss])[-window:]
        if len(hist) < window:
            continue
        y = np.array(hist)
        slope = np.polyfit(np.arange(window), y, 1)[0]
        crossed = crossed + 1 if -slope / y.mean() < thr else 0
        if crossed == patience:
            expected.append(t)
            crossed, hist = 0, []
    got = _drops(s, losses)
    assert got == expected and len(got) >= 2
    assert got[0] > window + patience - 2  # the fall delayed the first drop


def test_scheduler_relative_rate_of_a_line():
    losses = 4.0 - 0.25 * np.arange(8)
    assert AutoScheduler.relative_rate(losses) == pytest.approx(0.25 / losses.mean())
    assert AutoScheduler.relative_rate(losses[::-1]) == pytest.approx(-0.25 / losses.mean())


def test_scheduler_state_roundtrip_continues_identically():
    losses = list(2.0 + 0.01 * np.sin(np.arange(60)))
    a = AutoScheduler(1.0, window=5, patience=2, threshold=0.02)
    full = _drops(a, losses)
    b = AutoScheduler(1.0, window=5, patience=2, threshold=0.02)
    first = _drops(b, losses[:23])
    c = AutoScheduler(1.0, window=5, patience=2, threshold=0.02)
    c.load_state_dict(json.loads(json.dumps(b.state_dict())))
    rest = [t + 23 for t in _drops(c, losses[23:])]
    assert first + rest == full and c.lr == a.lr


@pytest.mark.parametrize("kwargs, name", [({"window": 1}, "window"), ({"patience": 0}, "patience"),
                                          ({"factor": 1.0}, "factor"), ({"threshold": math.nan}, "threshold")])
def test_scheduler_rejects_bad_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        AutoScheduler(1e-3, **kwargs)
    with pytest.raises(ValueError, match="loss"):
        AutoScheduler(1e-3).step(math.inf)


# ----------------------------------------------------------------------------- augmentation
def test_augment_keeps_shapes_and_is_deterministic_per_seed():
    x = np.random.default_rng(0).standard_normal((6, 3, 32, 32)).astype(np.float32)
    a = augment(x, np.random.default_rng(5))
    b = augment(x, np.random.default_rng(5))
    c = augment(x, np.random.default_rng(6))
    assert a.shape == x.shape and a.dtype == x.dtype
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_augment_is_a_translation_up_to_4_pixels_and_maybe_a_flip():
    x = np.random.default_rng(1).standard_normal((12, 3, 32, 32)).astype(np.float32)
    out = augment(x, np.random.default_rng(2))
    padded = np.pad(x, ((0, 0), (0, 0), (4, 4), (4, 4)))
    flips = 0
    for i in range(len(x)):
        matches = [(dy, dx, f) for dy in range(9) for dx in range(9) for f in (False, True)
                   if np.array_equal(out[i], (padded[i, :, dy:dy + 32, dx:dx + 32][..., ::-1] if f
                                              else padded[i, :, dy:dy + 32, dx:dx + 32]))]
        assert len(matches) == 1, i
        flips += matches[0][2]
    assert 0 < flips < len(x)
    np.testing.assert_array_equal(augment(x, np.random.default_rng(0), pad=0)[:, :, :, :].shape, x.shape)


# ----------------------------------------------------------------------------- checkpoints
class Interrupt(Exception):
    pass


def _tiny():
    rng = np.random.default_rng(3)
    xtr = rng.standard_normal((64, 3, 32, 32)).astype(np.float32)
    ytr = rng.integers(0, 10, 64)
    xte = rng.standard_normal((16, 3, 32, 32)).astype(np.float32)
    yte = rng.integers(0, 10, 16)
    cfg = TrainConfig(train_images=64, test_images=16, batch_size=16, measurements_per_epoch=2, lr_window=2,
                      lr_patience=1, lr_threshold=10.0, torch_threads=torch.get_num_threads())
    return cfg, (xtr, ytr, xte, yte)


def test_checkpoint_resume_equals_uninterrupted_run(tmp_path):
    cfg, data = _tiny()
    straight = train_run("crelu-ll", 8, 0, 2, cfg, *data, checkpoint=tmp_path / "a" / "run.pt")

    def stop_after_first_epoch(info):
        if info["epoch"] == 1:
            raise Interrupt

    path = tmp_path / "b" / "run.pt"
    with pytest.raises(Interrupt):
        train_run("crelu-ll", 8, 0, 2, cfg, *data, checkpoint=path, progress=stop_after_first_epoch)
    assert path.exists() and [p.name for p in path.parent.iterdir()] == ["run.pt"]  # no temp file left
    resumed = train_run("crelu-ll", 8, 0, 2, cfg, *data, checkpoint=path)
    assert resumed["resumed_from"] == 1 and straight["resumed_from"] == 0
    assert straight["lr_drops"], "the tiny schedule should drop the lr (threshold 10/epoch)"
    for k in ("final_train_loss", "test_accuracy", "test_loss", "lr_drops"):
        assert resumed[k] == straight[k], k
    for k in ("train_loss", "test_accuracy", "test_loss", "lr"):
        assert resumed["curves"][k] == straight["curves"][k], k
    # a shorter request reads its numbers off the finished checkpoint, without training
    again = train_run("crelu-ll", 8, 0, 1, cfg, *data, checkpoint=path,
                      progress=lambda info: pytest.fail("trained again"))
    assert again["curves"]["train_loss"] == straight["curves"]["train_loss"][:1]
    # another configuration refuses the checkpoint instead of continuing someone else's run
    with pytest.raises(ValueError, match="another configuration"):
        train_run("relu-he", 8, 0, 2, cfg, *data, checkpoint=path)
    assert checkpoint_dir_for(tmp_path, cfg) != checkpoint_dir_for(tmp_path, TrainConfig(seed=1))


def test_seeds_give_different_nets_and_same_seed_same_numbers():
    cfg, data = _tiny()
    a = train_run("relu-he", 8, 0, 1, cfg, *data)
    b = train_run("relu-he", 8, 0, 1, cfg, *data)
    c = train_run("relu-he", 8, 1, 1, cfg, *data)
    assert a["curves"] == {**b["curves"], "seconds": a["curves"]["seconds"]}
    assert a["final_train_loss"] != c["final_train_loss"]


def _without_times(doc):
    """``doc`` with every wall time replaced by 0 (what workers may change)."""
    if isinstance(doc, dict):
        return {k: 0 if k == "seconds" else _without_times(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_without_times(v) for v in doc]
    return doc


def test_fig6_in_worker_processes_gives_the_same_document(tmp_path):
    """Runs trained in two spawned processes (one thread each) equal the sequential runs bit for bit,
    grouped and ordered the same way; checkpoints are written by the workers."""
    from montecarlo.convnets.specs import TrainingPlan
    from montecarlo.convnets.training import fig6
    cfg, data = _tiny()
    cfg = dataclasses.replace(cfg, torch_threads=1)
    plan = TrainingPlan(archs=("crelu-ll", "relu-he", "resnet"), depths=(8, 10), seeds=2, epochs=2, config=cfg)
    lines = []
    here = fig6(plan, *data)
    there = fig6(plan, *data, checkpoint_dir=tmp_path, progress=lines.append, workers=2)
    assert _without_times(there) == _without_times({**here, "checkpoints": there["checkpoints"]})
    assert len(list(Path(there["checkpoints"]).glob("*.pt"))) == 12
    assert len(lines) == 12 and lines[-1].startswith("[12/12]")
    with pytest.raises(ValueError, match="workers"):
        fig6(plan, *data, workers=0)


# ----------------------------------------------------------------------------- CLI
@pytest.fixture
def tiny_data(tmp_path):
    write_batch(tmp_path / "data_batch_1", n=48, seed=5)
    write_batch(tmp_path / "test_batch", n=20, seed=6)
    return tmp_path


TINY = ["--depths", "8", "--archs", "crelu-ll,relu-he", "--epochs", "1", "--seeds", "2", "--train-images", "32",
        "--test-images", "20", "--batch-size", "16", "--measurements-per-epoch", "2", "--threads", "1"]


def test_cli_json_writes_a_store_document_and_rerun_reads_it(tiny_data, tmp_path, capsys):
    store = tmp_path / "store.sqlite"
    assert cli.main(["--data", str(tiny_data), *TINY, "--store", str(store), "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # stdout holds exactly one JSON document
    assert "ETA" in captured.err and "stored in" in captured.err
    assert [(c["arch"], c["depth"]) for c in doc["configs"]] == [("crelu-ll", 8), ("relu-he", 8)]
    for c in doc["configs"]:
        assert c["test_accuracy"]["n"] == 2 and len(c["runs"]) == 2
        accs = [r["test_accuracy"] for r in c["runs"]]
        assert c["test_accuracy"]["mean"] == pytest.approx(np.mean(accs))
        assert c["test_accuracy"]["stderr"] == pytest.approx(np.std(accs, ddof=1) / math.sqrt(2))
        assert c["curves"]["train_loss"]["mean"] == [pytest.approx(np.mean([r["final_train_loss"] for r in c["runs"]]))]
    with Store(store) as s:
        stored = s.documents("fig6-training")
    assert len(stored) == 1 and stored[0]["document"] == doc
    assert doc["command"].startswith("python -m montecarlo.convnets.train --archs crelu-ll,relu-he --depths 8 ")
    key = stored[0]["key"]
    assert key["depths"] == [8] and key["seeds"] == 2 and key["config"]["train_images"] == 32
    assert len(key["config"]["data_sha256"]) == 16
    # the same command again: read from the store, nothing trained
    assert cli.main(["--data", str(tiny_data), *TINY, "--store", str(store), "--json"]) == 0
    again = capsys.readouterr()
    assert json.loads(again.out) == doc and "nothing trained" in again.err and "ETA" not in again.err


def test_cli_human_table_without_store(tiny_data, capsys, tmp_path):
    assert cli.main(["--data", str(tiny_data), *TINY, "--seeds", "1", "--no-store",
                     "--checkpoints", str(tmp_path / "ck")]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "relu-he" in out and "time:" in out
    assert len(list((tmp_path / "ck").glob("fig6-*/*.pt"))) == 2
    assert not (Path(os.environ["SHATTERED_GRADIENTS_STORE"]).exists()
                and Store(os.environ["SHATTERED_GRADIENTS_STORE"]).documents("fig6-training"))


@pytest.mark.parametrize("args, name, value", [
    (["--depths", "6"], "--depths", "6"), (["--depths", "9"], "--depths", "9"), (["--depths", "x"], "--depths", "x"),
    (["--archs", "densenet"], "--archs", "densenet"), (["--epochs", "0"], "--epochs", "0"),
    (["--seeds", "0"], "--seeds", "0"), (["--lr", "-1"], "--lr", "-1"), (["--lr-factor", "2"], "--lr-factor", "2"),
    (["--train-images", "500"], "--train-images", "500"), (["--batch-size", "100"], "--batch-size", "100"),
    (["--measurements-per-epoch", "9"], "--measurements-per-epoch", "9"), (["--lr-window", "1"], "--lr-window", "1"),
])
def test_cli_bad_usage_exits_2_naming_argument_and_value(tiny_data, capsys, args, name, value):
    base = ["--data", str(tiny_data), "--train-images", "32", "--test-images", "20", "--batch-size", "16",
            "--no-store"]
    with pytest.raises(SystemExit) as info:
        cli.main(base + args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert name in err and value in err and "allowed" in err


def test_cli_missing_data_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--data", str(tmp_path / "missing"), "--no-store"])
    assert info.value.code == 2
    assert "--data" in capsys.readouterr().err


@pytest.mark.parametrize("arch", ARCHS)
def test_channels_last_training_step_is_the_same_map(arch):
    """Training runs channels-last (training.TRAINING_LAYOUT): in float64 the loss and every parameter
    gradient are those of the channels-first net to rounding, and the gradient leaving the pool keeps
    the layout (the backward pass is not strided)."""
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(4, 3, 32, 32, generator=g, dtype=torch.float64), torch.randint(0, 10, (4,), generator=g)

    def step(net, x):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        return loss.detach(), torch.autograd.grad(loss, list(net.parameters()))

    net = build_thin(arch, 8, seed=5).double()
    loss_first, grads_first = step(net, x)
    seen = []

    def record_layout(module, inputs, output):
        inputs[0].register_hook(lambda grad: seen.append(grad.is_contiguous(memory_format=TRAINING_LAYOUT)))

    net = net.to(memory_format=TRAINING_LAYOUT)
    handle = net.pool.register_forward_hook(record_layout)
    loss_last, grads_last = step(net, x.contiguous(memory_format=TRAINING_LAYOUT))
    handle.remove()
    torch.testing.assert_close(loss_last, loss_first, atol=1e-12, rtol=0)
    for a, b in zip(grads_last, grads_first):
        torch.testing.assert_close(a, b, atol=1e-12 * float(b.abs().max()), rtol=0)
    assert seen == [True]
