"""The project installed as a package: build the wheel, install it (not editable) into a fresh
virtual environment outside the checkout, and run the CLIs from a directory outside the checkout.

Why the fresh environment reuses this one's dependencies.  Installing the wheel's dependencies
(torch, numba, sympy, matplotlib ...) into a fresh venv would download about a gigabyte, and the
test must run offline.  So the wheel is installed with ``--no-deps`` and the fresh venv gets one
``.pth`` file whose single line is the path of this interpreter's site-packages.  A plain path line
in a ``.pth`` is appended to ``sys.path`` *after* the fresh venv's own site-packages, and ``site``
does not process the ``.pth`` files of a directory added that way: the checkout's editable-install
hook (``__editable__.shattered_gradients-*.pth``, which installs a meta-path finder pointing at the
checkout) stays inert.  The test checks that (no editable finder on ``sys.meta_path``, no checkout
on ``sys.path``, ``theory.__file__`` inside the fresh venv) before it trusts any CLI run.  What the
reuse cannot check, that ``pip install`` pulls the right dependencies, is checked on the wheel's
METADATA instead: its Requires-Dist must be exactly pyproject.toml's dependencies and extras.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("theory", "montecarlo", "kernels", "reports")

pytestmark = pytest.mark.slow


def _project_files() -> list[str]:
    """pyproject.toml, README.md and every file of the packages, as git sees the work tree
    (tracked or new, not ignored); a walk without git or outside a git checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--",
                              "pyproject.toml", "README.md", *PACKAGES],
                             cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
        files = [f for f in out.decode().split("\0") if f and (ROOT / f).is_file()]
    except (OSError, subprocess.SubprocessError):
        files = []
    if not files:
        files = ["pyproject.toml", "README.md"] + sorted(
            p.relative_to(ROOT).as_posix() for pkg in PACKAGES for p in (ROOT / pkg).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    return files


def _require_build_backend() -> None:
    """Skip (with the reason) when the wheel cannot be built and installed offline here.  Versions are
    read from the installed metadata: importing pip or setuptools here would load distutils."""
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    pip = version("pip")
    if pip is None or Version(pip) < Version("22.3"):
        pytest.skip(f"installing the wheel into a venv without pip needs pip >= 22.3 (--python) in this "
                    f"environment; found {pip or 'no pip'}")
    for req in map(Requirement, tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]):
        found = version(req.name)
        if found is None or not req.specifier.contains(found, prereleases=True):
            pytest.skip(f"building the wheel offline (--no-build-isolation) needs {req} in this environment; "
                        f"found {found or 'none'}")


def _run(cmd: list[str], cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


class Installed:
    """The fresh venv holding the wheel, and a way to run its interpreter outside the checkout."""

    def __init__(self, base: Path):
        self.base = base
        self.wheel: Path | None = None
        self.python = base / "venv" / "bin" / "python"
        self.work = base / "work"          # cwd of every run: outside the checkout
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH")}
        self.env.update(PYTHONNOUSERSITE="1", MPLBACKEND="Agg",
                        NUMBA_CACHE_DIR=str(base / "numba-cache"),
                        SHATTERED_GRADIENTS_STORE=str(base / "default-store.sqlite"))

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return _run([str(self.python), *args], cwd=self.work, env=self.env, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    _require_build_backend()
    inst = Installed(tmp_path_factory.mktemp("package"))
    assert ROOT not in inst.base.parents, f"{inst.base} lies inside the checkout {ROOT}"
    # build from a copy of the project's files: no build/ or egg-info written into the checkout
    src = inst.base / "src"
    for rel in _project_files():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    dist = inst.base / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "--disable-pip-version-check", "-w", str(dist), str(src)], cwd=inst.base)
    (inst.wheel,) = dist.glob("shattered_gradients-*.whl")
    _run([sys.executable, "-m", "venv", "--without-pip", str(inst.python.parents[1])], cwd=inst.base)
    _run([sys.executable, "-m", "pip", "--python", str(inst.python), "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", str(inst.wheel)], cwd=inst.base)
    fresh = Path(_run([str(inst.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                      cwd=inst.base, env=inst.env).stdout.strip())
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (fresh / "zz_reuse_checkout_venv_dependencies.pth").write_text("\n".join(ours) + "\n")
    inst.work.mkdir()
    return inst


def _wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def test_wheel_holds_every_package_file_and_nothing_else(installed):
    names = _wheel_names(installed.wheel)
    package_files = {f for f in _project_files() if f.split("/", 1)[0] in PACKAGES}
    assert any(f.endswith(".py") for f in package_files)
    missing = sorted(package_files - names)
    assert not missing, (f"files under the packages missing from the wheel (declare them in pyproject.toml's "
                         f"[tool.setuptools.package-data]): {missing}")
    top = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert top == set(PACKAGES)


def test_wheel_metadata_declares_the_dependencies_of_pyproject(installed):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    with zipfile.ZipFile(installed.wheel) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        lines = zf.read(meta).decode().split("\n\n", 1)[0].splitlines()
    declared = {str(Requirement(line.split(":", 1)[1].strip())) for line in lines if line.startswith("Requires-Dist:")}
    expected = {str(Requirement(r)) for r in project["dependencies"]}
    expected |= {str(Requirement(f'{r}; extra == "{extra}"'))
                 for extra, reqs in project["optional-dependencies"].items() for r in reqs}
    assert declared == expected
    assert {"numpy", "numba", "sympy", "scipy", "matplotlib"} <= {Requirement(r).name for r in project["dependencies"]}
    assert f"Requires-Python: {project['requires-python']}" in lines
    assert {f"Provides-Extra: {e}" for e in project["optional-dependencies"]} <= set(lines)


def test_installed_package_is_imported_from_the_fresh_venv_not_the_checkout(installed):
    probe = ("import json, sys, importlib.metadata as md, theory, montecarlo, kernels, reports\n"
             "from montecarlo.store import engine_version\n"
             "print(json.dumps({'files': [m.__file__ for m in (theory, montecarlo, kernels, reports)],\n"
             "  'path': sys.path, 'finders': [repr(f) for f in sys.meta_path],\n"
             "  'editable': sorted(m for m in sys.modules if 'editable' in m),\n"
             "  'dist': str(md.distribution('shattered-gradients').locate_file('')),\n"
             "  'engine': engine_version(), 'torch': 'torch' in sys.modules}))\n")
    got = json.loads(installed.run("-c", probe).stdout)
    venv = installed.python.parents[1]
    for f in got["files"]:
        assert venv in Path(f).resolve().parents, f"{f} is not inside the fresh venv {venv}"
    assert venv in Path(got["dist"]).resolve().parents
    assert not got["editable"], f"the checkout's editable finder was imported: {got['editable']}"
    assert not any("editable" in f.lower() for f in got["finders"]), got["finders"]
    assert not any(p and Path(p).resolve() == ROOT for p in got["path"]), got["path"]
    assert not got["torch"]  # importing the packages does not import torch (lazy)
    # the same source bytes give the same code version: a store filled by a checkout serves the package
    from montecarlo.store import engine_version
    assert got["engine"] == engine_version()


def test_installed_clis_run_outside_the_checkout(installed):
    """verify (symbolic), predict, a small Monte Carlo run into a store, the grid runs of the
    report's catalog at toy size, and the report from that store and the verify document."""
    from theory.claims import CLAIMS

    verify = json.loads(installed.run("-m", "theory.verify", "--symbolic-only", "--json").stdout)
    assert verify["ok"] is True
    assert [c["id"] for c in verify["claims"]] == [c.id for c in CLAIMS]
    (installed.work / "verify.json").write_text(json.dumps(verify))

    predict = json.loads(installed.run("-m", "theory.predict", "ff", "--depth", "10", "--json").stdout)
    assert predict["variance"] == 1.0 and predict["correlation"] == 2.0 ** -10

    store = installed.work / "results.sqlite"
    mc_args = ["ff", "--depth", "3", "--width", "16", "--nets", "4", "--pairs", "4", "--backend", "numpy", "--json"]
    mc = json.loads(installed.run("-m", "montecarlo", *mc_args, "--store", str(store)).stdout)
    assert mc["correlation"]["n"] == 4 and mc["curves"]["depth"] == [1, 2, 3]
    assert store.is_file()
    # the installed engine samples the same networks as the checkout: same seed, same document
    here = _run([sys.executable, "-m", "montecarlo", *mc_args, "--no-store"], cwd=ROOT)
    assert json.loads(here.stdout) == mc

    installed.run("-m", "reports.produce", "--store", str(store), "--nets", "2", "--points", "32", "--max-lag", "8",
                  "--backend", "numpy", "--skip-verify", "--convnets", "skip", "--training", "skip")
    out = installed.work / "report"
    installed.run("-m", "reports", "--store", str(store), "--results", "verify.json", "--out", str(out))
    figures = {p.name for p in (out / "figures").glob("*.png")}
    assert {"fig1_gradients.png", "fig2_acf.png", "fig3_activations.png", "fig4_contiguity.png",
            "fig_theory_vs_measurement.png"} <= figures
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "thm3b" in page
    assert (out / "tables" / "claims.tex").is_file() and (out / "summary.md").is_file()
    assert not (installed.base / "default-store.sqlite").exists()  # every run used the store it was given
