"""``python -m montecarlo.probe``: the contract (errors exit 2 naming what failed, --json, --out with its
HTML page in a headless browser, no silent overwrite) and the readers that must not import torch."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from montecarlo.probe.cli import main

ROOT = Path(__file__).resolve().parents[1]
MLP = "montecarlo.probe.examples:mlp(depth=3, width=16)"
FAST = ["--inits", "3", "--batch-size", "8", "--path-points", "32", "--max-lag", "4", "--threads", "1"]

BAD_MODELS = '''
import torch
from torch import nn

class Scalar(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin, self.relu = nn.Linear(4, 4), nn.ReLU()
    def forward(self, x):
        return self.relu(self.lin(x)).sum()          # no batch dimension

class NaNGrad(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin, self.relu = nn.Linear(4, 4), nn.ReLU()
    def forward(self, x):
        return torch.sqrt(self.relu(self.lin(x)) * 0)  # forward 0, gradient nan

def not_a_module():
    return 42

def raises():
    raise RuntimeError("my factory is broken")

def needs_argument(width):
    return nn.Linear(4, width)

NUMBER = 7
'''


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "bad_models.py"
    path.write_text(BAD_MODELS)
    return path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("target, words", [
    ("no_such_package.models:net", ["no_such_package.models", "not importable"]),
    ("montecarlo.probe.examples:nothing", ["has no attribute 'nothing'"]),
    ("BAD:NUMBER", ["NUMBER is a int, not callable"]),
    ("BAD:not_a_module", ["returned a int, not a torch.nn.Module"]),
    ("BAD:raises", ["calling the factory failed", "my factory is broken"]),
    ("BAD:needs_argument", ["calling the factory failed", "width"]),
    ("BAD:Scalar", ["output has shape ()", "batch dimension first"]),
    ("BAD:NaNGrad", ["initialization 0", "not finite"]),
    ("missing_colon", ["expected MODULE:FACTORY"]),
])
def test_bad_targets_exit_2_naming_what_failed(capsys, bad_models, target, words):
    target = target.replace("BAD", str(bad_models))
    code, out, err = run(capsys, target, "--input-shape", "4", *FAST)
    assert code == 2 and out == ""
    assert all(w in err for w in words), err


@pytest.mark.parametrize("argv, words", [
    (["--batch-size", "5"], ["--batch-size", "batch_size=5", "even"]),
    (["--inits", "1"], ["--inits", "inits=1"]),
    (["--input-shape", "3,x"], ["--input-shape", "'3,x'"]),
    (["--loss", "mse"], ["--loss", "mse"]),
    (["--theory", "ff", "--beta", "0.1"], ["--beta", "beta"]),
    (["--beta", "0.1"], ["--beta", "only with --theory"]),
    (["--force"], ["--force applies only with --out"]),
    (["--max-lag", "40"], ["--max-lag", "below --path-points"]),
])
def test_bad_options_exit_2_naming_the_flag(capsys, argv, words):
    base = ["--input-shape", "16"] if "--input-shape" not in argv else []
    code, out, err = run(capsys, MLP, *base, *FAST, *argv)
    assert code == 2 and out == "" and all(w in err for w in words), err


def test_inputs_must_be_stated_and_the_data_folder_must_exist(capsys, tmp_path):
    code, _, err = run(capsys, MLP, *FAST)
    assert code == 2 and "--input-shape C,H,W" in err and "--data cifar10" in err
    code, _, err = run(capsys, MLP, "--data", "cifar10", "--data-dir", str(tmp_path / "absent"), *FAST)
    assert code == 2 and str(tmp_path / "absent") in err
    code, _, err = run(capsys, MLP, "--input-shape", "16", "--data-dir", str(tmp_path), *FAST)
    assert code == 2 and "only with --data cifar10" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_device_exits_2(capsys):
    code, _, err = run(capsys, MLP, "--input-shape", "16", *FAST, "--device", "cuda")
    assert code == 2 and "--device cuda: no CUDA device is available" in err


def test_cifar10_images_as_inputs(capsys, tmp_path):
    from .test_convnets_data import write_batch
    write_batch(tmp_path / "data_batch_1", n=40, seed=3)
    code, out, err = run(capsys, "montecarlo.probe.examples:looks_linear(depth=2, width=4)", "--data", "cifar10",
                         "--data-dir", str(tmp_path), *FAST, "--loss", "cross_entropy", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert "CIFAR-10" in doc["inputs"] and doc["input_gradients"]["dim"] == 3 * 32 * 32
    assert doc["settings"]["loss"] == "cross_entropy"


def test_json_is_one_document_with_every_number_as_mean_stderr_n(capsys):
    code, out, err = run(capsys, MLP, "--input-shape", "16", *FAST, "--theory", "ff", "--norm", "bn", "--json")
    assert code == 0, err
    doc = json.loads(out)  # nothing else on stdout
    assert doc["kind"] == "probe" and [r["depth"] for r in doc["layers"]] == [2, 1, 0]
    row = doc["layers"][0]
    assert set(row["correlation"]) == {"mean", "stderr", "n", "ci"} and row["correlation"]["n"] == 3
    assert {"white_band", "theory"} <= set(row) and set(row["theory"]) == {"path", "infinite_width"}
    assert doc["timing"]["seconds"] > 0 and len(doc["timing"]["per_init"]) == 3
    assert doc["alpha"]["comparisons"] == 3 * 3 + 2


def test_human_table_fits_one_screen_and_prints_the_time(capsys):
    code, out, _ = run(capsys, "montecarlo.probe.examples:mlp(depth=30, width=8)", "--input-shape", "8", *FAST,
                       "--theory", "ff", "--norm", "bn")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) <= 40 and max(map(len, lines)) <= 150
    assert "of 30 layers shown" in out and "white |r|<=0.01" in out and "path model" in out
    assert lines[-1].startswith("Time ") and " s per initialization" in lines[-1]


CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or "")
                 if p and Path(p).exists()), None)


def _check_page(page: str, layers: int) -> None:
    assert page.count('<table id="layers">') == 1
    body = page.split('<table id="layers">')[1].split("</table>")[0]
    assert body.count("<tr>") == 1 + layers
    for table in ("input-gradients", "path", "settings", "environment"):
        assert f'<table id="{table}">' in page
    images = page.split('src="data:image/png;base64,')[1:]
    assert len(images) == 3
    for img in images:
        assert base64.b64decode(img.split('"', 1)[0])[:8] == b"\x89PNG\r\n\x1a\n"


def test_out_writes_figures_and_page_and_never_overwrites_silently(capsys, tmp_path):
    out_dir = tmp_path / "probe out"
    argv = [MLP, "--input-shape", "16", *FAST, "--theory", "ff", "--norm", "bn", "--out", str(out_dir)]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    names = {p.name for p in out_dir.iterdir()}
    assert {"probe.json", "probe.html"} <= names
    assert {f"{f}.{e}" for f in ("probe_correlation", "probe_path", "probe_gates") for e in ("png", "pdf")} <= names
    page = (out_dir / "probe.html").read_text()
    _check_page(page, 3)
    assert "Wrote " in out
    before = (out_dir / "probe.html").read_bytes()
    code, _, err = run(capsys, *argv)
    assert code == 2 and "--force" in err and (out_dir / "probe.html").read_bytes() == before
    assert run(capsys, *argv, "--force")[0] == 0
    # the page is rebuilt from the stored document alone
    from reports.probe_page import main as page_main
    again = tmp_path / "again"
    assert page_main([str(out_dir / "probe.json"), "--out", str(again)]) == 0
    _check_page((again / "probe.html").read_text(), 3)


@pytest.mark.skipif(CHROMIUM is None, reason="browser part: no chromium on this machine (the page's structure is "
                                             "checked in test_out_writes_figures_and_page_and_never_overwrites_silently)")
def test_page_renders_in_headless_chromium(capsys, tmp_path):
    out_dir = tmp_path / "page"
    code, _, err = run(capsys, "montecarlo.probe.examples:mlp(depth=3, width=16, beta=0.1)", "--input-shape", "16",
                       *FAST, "--theory", "resnet", "--beta", "0.1", "--norm", "bn", "--out", str(out_dir))
    assert code == 0, err
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-extensions", "--disable-sync", "--no-first-run", "--disable-quic",
                           "--disable-component-update", f"--user-data-dir={tmp_path / 'chromium-profile'}",
                           "--enable-logging=stderr", "--v=0", "--dump-dom",
                           (out_dir / "probe.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if "Uncaught" in line or ":ERROR:" in line], console
    dom = proc.stdout
    assert '<table id="layers">' in dom and dom.count("data:image/png;base64,") == 3
    assert "Do the gradients of" in dom and "resnet(L=2" in dom


def test_the_command_runs_as_a_module_and_readers_do_not_import_torch():
    proc = subprocess.run([sys.executable, "-m", "montecarlo.probe", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "--input-shape" in proc.stdout and "--bn-backward" in proc.stdout
    code = ("import sys, montecarlo.probe, montecarlo.probe.document, montecarlo.probe.settings, "
            "montecarlo.probe.target, montecarlo.probe.baselines, reports.probe_page; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
