"""Reports: figures from stored results (content checked through the plotted data), the LaTeX and
Markdown verdict tables, the HTML page, and the CLI contract (never samples; exit 2 with nothing
stored; no silent overwrite)."""
from __future__ import annotations

import base64
import html
import html.parser
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from montecarlo.estimators import Estimate
from montecarlo.observables import GridResult
from reports import figures as F
from reports import tables as T
from reports.cli import main as report_main
from reports.produce import main as produce_main
from theory.specs import FeedforwardSpec, ResnetSpec

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- synthetic results
def _estimates(values: np.ndarray) -> list[Estimate]:
    """Mean and standard error over axis 0 (networks)."""
    n = values.shape[0]
    return [Estimate(float(m), float(s), n) for m, s in
            zip(values.mean(axis=0), values.std(axis=0, ddof=1) / math.sqrt(n))]


def synthetic_grid(signals: np.ndarray, depth: int = 3, max_lag: int = 16, active=None, coactive=None,
                   levels=None, runs=None) -> GridResult:
    """A GridResult whose 'gradients' are the given signals (one row per network)."""
    S, M = signals.shape
    acfs = np.array([F.acf(s, max_lag) for s in signals])
    active = np.full((S, depth), 0.5) if active is None else active
    coactive = np.full((S, depth), 0.25) if coactive is None else coactive
    levels = np.ones((depth, 10), dtype=np.int64) if levels is None else levels
    runs = np.ones((depth, M), dtype=np.int64) if runs is None else runs
    return GridResult(FeedforwardSpec(depth=depth, width=8), "real", 0, np.linspace(-2, 2, M), _estimates(acfs),
                      Estimate(1.0, 0.0, S), F.normalized_covariance(signals), _estimates(active),
                      _estimates(coactive), levels, runs)


def _white(S=20, M=128):
    return F.white_noise(S, M, seed=1)


def _brown(S=20, M=128):
    return F.brown_noise(S, M, seed=1)


def _assert_images(fig: F.Figure) -> None:
    assert {p.suffix for p in fig.paths} == {".png", ".pdf"}
    for p in fig.paths:
        assert p.stat().st_size > 2000
    assert fig.png.read_bytes()[:8] == PNG_MAGIC
    assert next(p for p in fig.paths if p.suffix == ".pdf").read_bytes()[:5] == b"%PDF-"


def synthetic_verify_doc() -> dict:
    """A theory.verify --json document in miniature: two correlation claims, an empirical one."""
    ff = FeedforwardSpec(depth=4, width=20)
    res = ResnetSpec(depth=5, width=20, beta=0.1, norm="bn")

    def column(verdict, depths, values, stderr=0.01, key="estimate"):
        rows = [{"verdict": verdict, "predicted": v, "estimate": v, "stderr": stderr, "ci": None, "n": 50,
                 "z": 0.0, "delta": 0.01, "depth": d, "precision": None, "note": ""} for d, v in zip(depths, values)]
        if not rows:
            return {"verdict": verdict, "predicted": None, "estimate": None, "ci": None, "n": 0, "z": None}
        head = rows[-1]
        return {"verdict": verdict, "predicted": head["predicted"], "estimate": head["estimate"], "ci": None,
                "n": 50, "z": 0.0, "depth": head["depth"], "delta": 0.01, "precision": None, "depths": rows}

    def claim(cid, ref, spec, form, form_latex, path, real, iw, kind="theorem", quantity="correlation"):
        return {"id": cid, "paper_ref": ref, "statement": "s", "kind": kind, "assumptions": [],
                "closed_form": form, "closed_form_latex": form_latex, "symbolic": "pass", "checks": [],
                "monte_carlo": "path: x; real: y", "summary": f"{cid} summary",
                "observable": {"experiment": "typical_pairs", "quantity": quantity, "spec": spec.to_dict(),
                               "depths": [1, 2, 4]}, "path": path, "real": real, "infinite_width": iw}
    d = [1, 2, 4]
    claims = [
        claim("thm1b", "Thm 1b", ff, "2**(-L)", "2^{- L}", column("holds", d, [0.5, 0.25, 0.0625]),
              column("departs", d, [0.83, 0.7, 0.42]), column("holds", d, [0.83, 0.7, 0.42])),
        claim("thm3c", "Thm 3", res, "1/(sqrt(L)*beta)", r"\frac{1}{\sqrt{L} \beta}",
              column("holds", [1, 5], [0.99, 0.96]), column("holds", [1, 5], [0.99, 0.95]),
              column("holds", [1, 5], [0.99, 0.95])),
        claim("coact-climbs", "§2, Fig. 3", ff, "empirical", r"\text{empirical}", column("not applicable", [], []),
              column("holds", [4], [0.21]), column("not applicable", [], []), kind="empirical",
              quantity="coactivation"),
    ]
    return {"version": "test", "ok": True, "claims": claims, "controls": [{"id": "c1", "rejected": True}],
            "settings": {"seed": 0, "alpha_family": 1e-3, "backend": "numba", "pairs_per_net": 8},
            "seconds": 1.0}


# ----------------------------------------------------------------------------- figures
def test_figure_2_white_noise_acf_near_zero_brown_near_one(tmp_path):
    white, brown = synthetic_grid(_white()), synthetic_grid(_brown())
    fig = F.figure_2([("noise as networks", [("white", white), ("brown", brown)])], tmp_path)
    _assert_images(fig)
    lags, mean, se = fig.data["acf"]["white"]
    assert mean[0] == pytest.approx(1.0)
    assert np.all(np.abs(mean[1:]) < 0.15)
    assert np.all(se[1:] > 0)
    _, bmean, _ = fig.data["acf"]["brown"]
    assert bmean[1] > 0.9
    # the generated references behave the same way
    _, wref, _ = fig.data["noise"]["white"]
    _, bref, _ = fig.data["noise"]["brown"]
    assert np.all(np.abs(wref[1:]) < 0.1) and bref[1] > 0.9
    # what is plotted is exactly the stored estimate
    assert np.array_equal(mean, [e.mean for e in white.acf])


def test_figure_1_covariance_structure(tmp_path):
    white, brown = synthetic_grid(_white()), synthetic_grid(_brown())
    single = _brown()[0] - _brown()[0].mean()
    fig = F.figure_1([("brownian net", brown, single), ("white net", white, None)], tmp_path)
    _assert_images(fig)
    cov_w = fig.data["covariance"]["white net"]
    off = cov_w[~np.eye(cov_w.shape[0], dtype=bool)]
    assert np.diag(cov_w).mean() == pytest.approx(1.0, abs=0.15) and off.mean() < 0.3
    cov_b = fig.data["covariance"]["brownian net"]
    assert np.mean([cov_b[i, i + 1] for i in range(cov_b.shape[0] - 1)]) > 0.7
    assert np.std(fig.data["curves"]["brownian net"]) == pytest.approx(1.0)
    assert "white net" not in fig.data["curves"]  # no single curve stored: not invented
    assert "brown noise" in fig.data["covariance"] and "white noise" in fig.data["covariance"]


def test_figure_1_flags_flat_gradient(tmp_path):
    res = synthetic_grid(_white())
    y = np.concatenate([np.zeros(64), _white(1, 64)[0]])
    fig = F.figure_1([("half flat", res, y)], tmp_path)
    a, b = fig.data["flat"]["half flat"]
    assert a == pytest.approx(-2.0) and b < 0.1
    assert "exactly constant" in fig.caption


def test_figure_3_plots_stored_proportions(tmp_path):
    S, L = 6, 5
    rng = np.random.default_rng(0)
    climb = np.linspace(0.3, 0.45, L) + 0.01 * rng.standard_normal((S, L))
    none = synthetic_grid(_white(S), depth=L, coactive=climb)
    bn = synthetic_grid(_white(S), depth=L)
    fig = F.figure_3([("no BN", none, False), ("BN", bn, True)], tmp_path)
    _assert_images(fig)
    layers, mean, se = fig.data[("no BN", "coactive")]
    assert list(layers) == list(range(1, L + 1))
    assert np.allclose(mean, climb.mean(axis=0))
    assert np.allclose(fig.data[("BN", "coactive")][1], 0.25)


def test_figure_4_histograms_are_distributions(tmp_path):
    L, M = 10, 32
    levels = np.zeros((L, 10), dtype=np.int64)
    levels[:, 0], levels[:, -1], levels[:, 5] = 40, 40, 20
    runs = np.zeros((L, M), dtype=np.int64)
    runs[:, 0], runs[:, M - 1] = 5, 3
    res = synthetic_grid(_white(4, M), depth=L, levels=levels, runs=runs)
    fig = F.figure_4([("bimodal", res)], tmp_path)
    _assert_images(fig)
    entry = fig.data["bimodal"]
    assert sorted(entry["levels"]) == F.pick_layers(L)
    for share in entry["levels"].values():
        assert share.sum() == pytest.approx(1.0) and share[0] == pytest.approx(0.4)
    for frac in entry["runs"].values():
        assert frac.sum() == pytest.approx(1.0) and frac[M - 1] == pytest.approx(3 / 8)
    assert "bimodal 0.80" in fig.caption


def test_figure_theory_closed_form_and_points(tmp_path):
    doc = synthetic_verify_doc()
    fig = F.figure_theory(doc, tmp_path)
    _assert_images(fig)
    assert set(fig.data) == {"thm1b", "thm3c"}  # the empirical claim has no correlation curve
    ff = fig.data["thm1b"]
    assert np.allclose(ff["closed_form"], 0.5 ** np.arange(1, 5))
    assert ff["infinite_width"] is not None and ff["infinite_width"][0] > 0.5  # real ff nets: slower decay
    d, est, se = ff["real"]
    assert list(d) == [1, 2, 4] and est[0] == pytest.approx(0.83)


# ----------------------------------------------------------------------------- tables
@pytest.mark.parametrize("value, stderr, text", [
    (0.70710, 0.0031, "0.707(3)"), (0.0623, 0.0012, "0.0623(12)"), (1058.0, 15.0, "1058(15)"),
    (0.5, None, "0.5"), (0.12345, 0.0996, "0.1(1)"), (12345.0, 67.0, "1.234(7)e4"),
    (-0.042, 0.014, "-0.042(14)"), (float("nan"), 0.1, "n/a")])
def test_format_uncertainty(value, stderr, text):
    assert T.format_uncertainty(value, stderr) == text


def _strip_escaped(text: str) -> str:
    return re.sub(r"\\[{}&%$#_]", "", text)


def check_latex_tabular(tex: str) -> None:
    """Syntax check: balanced braces and $, booktabs rules, every row has as many cells as the spec."""
    body = "\n".join(l for l in tex.splitlines() if not l.lstrip().startswith("%"))
    plain = _strip_escaped(body)
    depth = 0
    for ch in plain:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, "unbalanced }"
    assert depth == 0, "unbalanced {"
    spec = re.search(r"\\begin\{tabular\}\{([^}]*)\}", body).group(1)
    ncols = len(re.findall(r"[lcrp]", spec))
    for cmd in (r"\toprule", r"\midrule", r"\bottomrule", r"\end{tabular}"):
        assert cmd in body
    inner = body.split(r"\midrule", 1)[1].split(r"\bottomrule", 1)[0]
    rows = [r for r in inner.strip().splitlines() if r.strip()]
    assert rows
    for row in rows + [body.split(r"\toprule", 1)[1].split(r"\midrule", 1)[0].strip()]:
        assert row.rstrip().endswith(r"\\"), row
        assert _strip_escaped(row).count("$") % 2 == 0, row
        assert _strip_escaped(row).count("&") == ncols - 1, row


def test_latex_table_syntax_and_compiles(tmp_path):
    doc = synthetic_verify_doc()
    tex = T.claims_latex(doc)
    check_latex_tabular(tex)
    assert "0.0625(100)" not in tex and "$0.062(10)$" in tex  # compact uncertainties
    assert r"\S{}2" in tex and r"\frac{1}{\sqrt{L} \beta}" in tex
    engine = shutil.which("pdflatex") or shutil.which("tectonic")
    if engine is None:
        pytest.skip("no pdflatex or tectonic: syntax checked only (above)")
    (tmp_path / "claims.tex").write_text(tex)
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                                      "\\input{claims.tex}\n\\end{document}\n")
    args = [engine, "-interaction=nonstopmode", "doc.tex"] if engine.endswith("pdflatex") else [engine, "doc.tex"]
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "doc.pdf").exists()


def test_markdown_table_parses():
    doc = synthetic_verify_doc()
    md = T.claims_markdown(doc).strip().splitlines()
    assert len(md) == 2 + len(doc["claims"])
    widths = {len(re.findall(r"(?<!\\)\|", line)) for line in md}
    assert widths == {8}
    assert "Assumption 1 only (explained at infinite width)" in md[2]  # thm1b: real departs, IW holds
    assert "0.420(10) (d=4) departs" in md[2]


# ----------------------------------------------------------------------------- CLI, end to end
@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    """Every catalogued grid run at toy size (2 networks, 32 grid points) in a fresh store."""
    path = tmp_path_factory.mktemp("store") / "results.sqlite"
    assert produce_main(["--store", str(path), "--nets", "2", "--points", "32", "--max-lag", "8",
                         "--backend", "numpy", "--skip-verify", "--convnets", "skip", "--training", "skip"]) == 0
    return path


@pytest.fixture
def no_sampling(monkeypatch):
    """Every way of sampling (or training) a network raises."""
    import montecarlo.convnets.training
    import montecarlo.networks
    import montecarlo.observables
    import montecarlo.raster
    import montecarlo.chunks
    import montecarlo.runner

    def boom(*args, **kwargs):
        raise AssertionError("the report ran an experiment")
    for mod, name in ((montecarlo.runner, "estimate"), (montecarlo.chunks, "compute_chunk"),
                      (montecarlo.observables, "grid"), (montecarlo.observables, "typical_pairs"),
                      (montecarlo.observables, "_shallow_grid"), (montecarlo.networks, "gradients"),
                      (montecarlo.raster, "write_raster"), (montecarlo.convnets.training, "train_run"),
                      (montecarlo.convnets.training, "fig6")):
        monkeypatch.setattr(mod, name, boom)
    monkeypatch.setattr(montecarlo.observables.GridExperiment, "summaries", boom)
    monkeypatch.setattr(montecarlo.observables.GridExperiment, "raster", boom)
    monkeypatch.setattr(montecarlo.observables.PairsExperiment, "summaries", boom)


class _Dom(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.imgs, self.stack, self.rows = [], [], [], {}
        self.table = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(attrs)
        if tag == "table":
            self.table = attrs.get("id")
        if tag == "tr" and self.table:
            self.rows[self.table] = self.rows.get(self.table, 0) + 1
        if tag not in ("img", "meta", "br"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()
        if tag == "table":
            self.table = None


def test_cli_end_to_end_never_samples(tiny_store, tmp_path, no_sampling, capsys):
    results = tmp_path / "verify.json"
    doc = synthetic_verify_doc()
    results.write_text(json.dumps(doc))
    out = tmp_path / "report"
    assert report_main(["--store", str(tiny_store), "--results", str(results), "--out", str(out)]) == 0
    names = sorted(p.name for p in (out / "figures").iterdir())
    stems = {"fig1_gradients", "fig2_acf", "fig3_activations", "fig4_contiguity", "fig_theory_vs_measurement"}
    assert names == sorted(f"{s}.{e}" for s in stems for e in ("pdf", "png"))
    check_latex_tabular((out / "tables" / "claims.tex").read_text())
    summary = (out / "summary.md").read_text()
    assert summary.count("\n| ") == 1 + len(doc["claims"])
    page = (out / "report.html").read_text()
    dom = _Dom()
    dom.feed(page)
    dom.close()
    assert not dom.stack
    assert dom.rows["verdicts"] == 1 + len(doc["claims"])
    assert dom.rows["runs"] == 1 + 14 and "environment" in dom.rows
    assert len(dom.imgs) == len(stems)
    for img in dom.imgs:
        assert img["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(img["src"].split(",", 1)[1])[:8] == PNG_MAGIC
    assert "python -m montecarlo shallow" in page and "--seed 0" in page and "numpy" in page
    # no stored training run: the note names the command that makes one
    assert f"python -m montecarlo.convnets.train --store {tiny_store}" in html.unescape(page)
    # no silent overwrite
    before = (out / "report.html").read_bytes()
    assert report_main(["--store", str(tiny_store), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "report.html").read_bytes() == before
    assert report_main(["--store", str(tiny_store), "--out", str(out), "--force"]) == 0


def test_cli_nothing_stored_names_the_command(tmp_path, capsys, no_sampling):
    store = tmp_path / "absent.sqlite"
    assert report_main(["--store", str(store), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "python -m reports.produce" in err
    assert not store.exists()  # a store is never created by the report
    assert not (tmp_path / "r" / "report.html").exists()


def test_cli_corrupt_results_is_usage_error(tmp_path, capsys):
    bad = tmp_path / "verify.json"
    bad.write_text("{not json")
    assert report_main(["--store", str(tmp_path / "none.sqlite"), "--results", str(bad),
                        "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "theory.verify --json" in err
    assert bad.read_text() == "{not json"


def test_cli_corrupt_store_is_reported_and_left_untouched(tmp_path, capsys):
    store = tmp_path / "results.sqlite"
    store.write_bytes(b"this is not a results store" * 10)
    assert report_main(["--store", str(store), "--out", str(tmp_path / "r")]) == 2
    assert str(store) in capsys.readouterr().err
    assert store.read_bytes() == b"this is not a results store" * 10


def test_help_mentions_force():
    proc = subprocess.run([sys.executable, "-m", "reports", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0 and "--force" in proc.stdout and "overwritten" in proc.stdout


CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or "")
                 if p and Path(p).exists()), None)


@pytest.mark.skipif(CHROMIUM is None, reason="browser part: no chromium on this machine (structure is checked "
                                             "with html.parser in test_cli_end_to_end_never_samples)")
def test_report_renders_in_headless_chromium(tiny_store, tmp_path, no_sampling):
    results = tmp_path / "verify.json"
    results.write_text(json.dumps(synthetic_verify_doc()))
    out = tmp_path / "report"
    assert report_main(["--store", str(tiny_store), "--results", str(results), "--out", str(out)]) == 0
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-extensions", "--disable-sync", "--no-first-run", "--disable-quic",
                           "--disable-component-update", f"--user-data-dir={tmp_path / 'chromium-profile'}",
                           "--enable-logging=stderr", "--v=0", "--dump-dom",
                           (out / "report.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if "Uncaught" in line or ":ERROR:" in line], console
    dom = proc.stdout
    assert '<table id="verdicts">' in dom
    assert dom.count("<img") == 5 and dom.count("data:image/png;base64,") == 5


# ----------------------------------------------------------------------------- Fig. 6 (training)
FIG6_TINY = ["--depths", "8", "--archs", "crelu-ll,resnet", "--epochs", "1", "--seeds", "2", "--train-images", "32",
             "--test-images", "16", "--batch-size", "16", "--measurements-per-epoch", "2", "--threads", "1"]


@pytest.fixture(scope="module")
def fig6_store(tmp_path_factory):
    """A store holding only a tiny real fig6-training run (python -m montecarlo.convnets.train on synthetic
    CIFAR-10 batch files) and the stored document."""
    import torch

    from montecarlo.convnets.train import main as train_main
    from montecarlo.store import Store

    from .test_convnets_data import write_batch
    root = tmp_path_factory.mktemp("fig6")
    data = root / "cifar data"  # a space: the command must quote the path
    data.mkdir()
    write_batch(data / "data_batch_1", n=32, seed=5)
    write_batch(data / "test_batch", n=16, seed=6)
    path = root / "store.sqlite"
    threads = torch.get_num_threads()
    try:
        assert train_main(["--data", str(data), *FIG6_TINY, "--store", str(path)]) == 0
    finally:
        torch.set_num_threads(threads)
    with Store(path) as st:
        (entry,) = st.documents("fig6-training")
    return path, entry


def _page(out: Path) -> str:
    return html.unescape((out / "report.html").read_text(encoding="utf-8"))


def test_report_draws_fig6_from_a_stored_training_run_and_never_trains(fig6_store, tmp_path, no_sampling, capsys):
    import shlex

    import torch

    from montecarlo.convnets.documents import fig6_code_version
    from montecarlo.convnets.train import main as train_main
    path, entry = fig6_store
    doc = entry["document"]
    assert entry["code_version"] == fig6_code_version() and doc["command"].startswith("python -m montecarlo.convnets.train")
    out = tmp_path / "report"
    assert report_main(["--store", str(path), "--out", str(out)]) == 0  # a store with only Fig. 6 is not "empty"
    assert "1 Fig. 6 run(s)" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["fig6_training.pdf", "fig6_training.png"]
    assert (out / "figures" / "fig6_training.png").read_bytes()[:8] == PNG_MAGIC
    page = _page(out)
    dom = _Dom()
    dom.feed((out / "report.html").read_text(encoding="utf-8"))
    assert len(dom.imgs) == 1 and dom.rows["runs"] == 1 + 1
    assert 'id="fig6_training"' in page and "Fig. 6 (§5.1)" in page
    command = f"{doc['command']} --store {path}"
    assert command in page and "--seeds 2 --epochs 1" in command
    assert "Fig. 6: CIFAR-10 training (§5.1)" in page and "crelu-ll, resnet" in page and "32 training / 16 test" in page
    assert "torch CPU, 1 thread(s)" in page and entry["code_version"] in page and "older code" not in page
    assert "no stored fig6-training document" not in page
    assert "Fig. 5 (CIFAR-10 convnets): no stored fig5-convnets document" in page  # the other notes remain
    # the provenance command re-reads the stored run (the same key): nothing is trained (no_sampling)
    threads = torch.get_num_threads()
    try:
        assert train_main(shlex.split(command)[3:]) == 0
    finally:
        torch.set_num_threads(threads)
    assert "nothing trained" in capsys.readouterr().err


def test_report_marks_fig6_of_older_code_and_rebuilds_its_command(fig6_store, tmp_path, no_sampling):
    from montecarlo.convnets.documents import fig6_command_line
    from montecarlo.store import Store
    _, entry = fig6_store
    old = json.loads(json.dumps(entry["document"]))
    del old["command"]  # documents stored before the train CLI wrote one
    path = tmp_path / "store.sqlite"
    with Store(path) as st:
        st.put_document("fig6-training", entry["key"], old, "0123456789abcdef")
    out = tmp_path / "report"
    assert report_main(["--store", str(path), "--out", str(out)]) == 0
    page = _page(out)
    assert "0123456789abcdef (older code)" in page and "Trained by older code (version 0123456789abcdef)" in page
    assert f"{fig6_command_line(old)} --store {path}" in page
    assert (out / "figures" / "fig6_training.png").exists()


def test_select_fig6_prefers_current_code_then_points_then_seeds_times_epochs_then_newest():
    from reports.data import select_fig6

    def entry(i, version, seeds=2, epochs=5, lr=3e-4, archs=("crelu-ll",), depths=(8,), configs=True):
        doc = {"kind": "fig6-training",
               "configs": [{"arch": a, "depth": d} for a in archs for d in depths] if configs else [],
               "options": {"archs": list(archs), "depths": list(depths), "seeds": seeds, "epochs": epochs,
                           "config": {"lr": lr, "train_images": 100}}}
        return {"id": i, "code_version": version, "document": doc}
    older_bigger = entry(1, "old", seeds=10, epochs=100, archs=("crelu-ll", "resnet", "relu-he"))
    resnet, long, crelu, other_lr = (entry(2, "new", archs=("resnet",)), entry(3, "new", seeds=1, epochs=50),
                                     entry(4, "new"), entry(5, "new", lr=1e-3))
    skipped = [entry(6, "new", seeds=4, epochs=50, configs=False),
               {"id": 7, "code_version": "new", "document": {"kind": "fig6-training", "configs": [1]}}]
    # the current code first (not the older, bigger run), then the most (arch, depth) points: one
    # comparable group (same seeds, epochs, config) is merged, oldest first
    picked = select_fig6([older_bigger, resnet, long, crelu, other_lr, *skipped], "new")
    assert [e["id"] for e in picked] == [2, 4] and all(e["current"] for e in picked)
    # a claim's deciding run (many seeds, one depth, two archs) does not replace a run with more points
    deciding = entry(9, "new", seeds=30, archs=("crelu-ll", "crelu-he"), depths=(50,))
    wide = entry(10, "new", archs=("crelu-ll", "crelu-he", "relu-he"), depths=(8, 20, 50))
    assert [e["id"] for e in select_fig6([wide, deciding], "new")] == [10]
    # equal points: the most seeds x epochs (1 x 50), then the group with the newest document
    assert [e["id"] for e in select_fig6([long, crelu, other_lr], "new")] == [3]
    assert [e["id"] for e in select_fig6([crelu, other_lr], "new")] == [5]
    assert [e["id"] for e in select_fig6([older_bigger, entry(8, "other")], "new")] == [1]  # no current
    assert select_fig6([older_bigger], "new")[0]["current"] is False
    assert select_fig6(skipped, "new") == []


def test_produce_runs_the_training_preset_before_verify_and_quick_skips_it(tmp_path, monkeypatch, capsys):
    import torch

    import montecarlo.convnets.train
    import reports.produce as P
    calls, order = [], []
    monkeypatch.setattr(P, "run_grid", lambda *a, **k: None)
    monkeypatch.setattr(P, "write_rasters", lambda *a, **k: None)
    monkeypatch.setattr(P, "run_convnets", lambda *a, **k: order.append("fig5"))
    monkeypatch.setattr(P, "run_verify", lambda *a, **k: order.append("verify") or 0)

    def fake_train(argv):
        calls.append(argv)
        order.append("fig6")
        torch.set_num_threads(1)  # what the train CLI does; produce restores the caller's count
        return 0
    monkeypatch.setattr(montecarlo.convnets.train, "main", fake_train)
    store = str(tmp_path / "s.sqlite")
    threads = torch.get_num_threads()
    assert P.main(["--store", store, "--results", str(tmp_path / "v.json")]) == 0
    assert calls == [["--seed", "0", "--store", store]] and order == ["fig5", "fig6", "verify"]
    assert torch.get_num_threads() == threads
    calls.clear()
    assert P.main(["--store", store, "--skip-verify", "--quick"]) == 0
    assert calls == []
    assert P.main(["--store", store, "--skip-verify", "--quick", "--training", "default", "--seed", "3"]) == 0
    assert calls == [["--seed", "3", "--store", store]]
    calls.clear()
    assert P.main(["--store", store, "--skip-verify", "--training", "skip"]) == 0
    assert calls == []

    def no_data(argv):
        raise SystemExit(2)  # what argparse does when the CIFAR-10 folder is missing
    monkeypatch.setattr(montecarlo.convnets.train, "main", no_data)
    assert P.main(["--store", store, "--skip-verify"]) == 0
    assert "Fig. 6 run skipped" in capsys.readouterr().out


def test_produce_help_names_the_training_option():
    from reports.produce import build_parser
    text = build_parser().format_help()
    assert "--training {default,claims,skip}" in text and "montecarlo.convnets.train" in text
    assert "--convnets {default,quick,claims,skip}" in text and "fig6-llinit: --archs crelu-ll,crelu-he" in " ".join(text.split())


def test_fig2_caption_places_every_depth_against_the_noise_bands():
    """The spectral exponent at each depth of Fig. 2, by its interval, in words (and a wrong band is not claimed)."""
    from montecarlo.estimators import Estimate
    from reports.figures import noise_band_of
    assert noise_band_of(Estimate(0.05, 0.1, 40))["where"] == "in the white band"
    assert noise_band_of(Estimate(1.95, 0.1, 40))["where"] == "in the brown band"
    assert noise_band_of(Estimate(1.0, 0.1, 40))["where"] == "between the bands"
    assert noise_band_of(Estimate(4.0, 0.1, 40))["where"] == "outside both bands"
    assert noise_band_of(Estimate(0.45, 0.1, 40))["where"] == "on a band's edge (undecided)"


def figure_theory(*args, **kwargs):
    """Named as the report's slowest figure (reports.cli.DRAW_SECONDS), so draw_all hands it out first."""
    from reports import figures as F
    return F.Figure(*args, **kwargs)


def test_figures_drawn_in_worker_processes_come_back_in_order():
    """reports.cli.draw_all: the jobs' results, in the jobs' order, the same as drawing them here."""
    from reports import cli as report_cli
    from reports import figures as F
    jobs = [(F.Figure, (f"fig{i}", f"title {i}", f"caption {i}"), {"data": {"i": i}}) for i in range(4)]
    jobs.append((figure_theory, ("fig4", "title 4", "caption 4"), {"data": {"i": 4}}))   # handed out first
    assert report_cli.DRAW_SECONDS[figure_theory.__name__] == max(report_cli.DRAW_SECONDS.values())
    drawn = report_cli.draw_all(jobs)
    assert [f.name for f in drawn] == [f"fig{i}" for i in range(5)]
    assert drawn == [fn(*args, **kwargs) for fn, args, kwargs in jobs]
    assert report_cli._JOBS == []
