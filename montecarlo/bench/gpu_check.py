"""``python -m montecarlo.bench.gpu_check``: the one script of a GPU session (issue 16, part 3).

Run it once, from the repository root, when a CUDA device is lent, and copy every number it prints
into docs/benchmarks.md ("GPU engine").  It times nothing itself and asserts nothing on time: it
runs, in order,

1. the machine: ``nvidia-smi``, Python / numpy / numba / torch versions, devices seen;
2. ``pytest -m cuda`` over the whole suite (the device tests; they skip, saying why, without one);
3. ``pytest tests/test_kernels_cuda.py`` (the simulator and PTX checks, as on a CPU machine);
4. :mod:`montecarlo.bench.gpu` (weights-stream bits and rate, the grid's forward mode at each batch
   size, agreement with the numba engine), human-readable and, with ``$OUT``, as JSON;
5. ``python -m montecarlo ff --experiment grid --backend cuda`` end to end (wall time with
   start-up), and the first 64 networks on both backends so that their observables can be compared;
6. ``python -m montecarlo.bench --quick --backend cuda`` if the CPU bench has that option by then.

``--nets``/``--batches`` go to step 4; ``$OUT`` (the device runner's output folder), when set,
receives ``gpu_check.log`` and ``gpu_bench.json``.  Needs numpy, numba, scipy, sympy, pytest,
hypothesis and a CUDA build of torch.  Budget: ~5 min on an H100/H200.  Exit 0 when every step
succeeded, 1 otherwise.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ("import sys, numpy, numba, torch; from numba import cuda; "
            "print(sys.version.split()[0], 'numpy', numpy.__version__, 'numba', numba.__version__, "
            "'torch', torch.__version__, 'torch.cuda', torch.version.cuda, '| torch sees', "
            "torch.cuda.device_count(), 'device(s) | numba.cuda', cuda.is_available())")
GRID = ["ff", "--depth", "50", "--width", "200", "--experiment", "grid", "--points", "256", "--seed", "7",
        "--no-store", "--json"]


class Log:
    def __init__(self, path: Path | None):
        self.file = open(path, "a") if path else None   # noqa: SIM115 (kept open for the whole run)
        self.failed = 0

    def say(self, text: str) -> None:
        print(text, flush=True)
        if self.file:
            self.file.write(text + "\n")
            self.file.flush()

    def step(self, title: str) -> None:
        self.say(f"\n=== {title} ({datetime.now(UTC):%H:%M:%S} UTC)")

    def run(self, cmd: list[str], stdout_to: Path | None = None) -> float:
        """Run ``cmd`` in the repository root, echo its output, return its wall time."""
        t = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
            output, rc = proc.stdout + proc.stderr, proc.returncode
            if stdout_to is not None:
                stdout_to.write_text(proc.stdout)
        except OSError as e:                                     # e.g. no nvidia-smi
            output, rc = f"{cmd[0]}: {e}", 127
        seconds = time.perf_counter() - t
        self.say(output.rstrip())
        self.say(f"--- exit {rc}, {seconds:.1f} s: {' '.join(cmd)}")
        self.failed += rc != 0
        return seconds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m montecarlo.bench.gpu_check", description=__doc__.split("\n\n")[0])
    p.add_argument("--nets", default="8192", help="timed networks per configuration and batch (step 4)")
    p.add_argument("--batches", default="64,256,1024", help="batch sizes of step 4, comma-separated")
    args = p.parse_args(argv)
    out = Path(os.environ["OUT"]) if os.environ.get("OUT") else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    log = Log(out / "gpu_check.log" if out else None)
    py = sys.executable

    log.step("machine")
    log.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm", "--format=csv"])
    log.run([py, "-c", VERSIONS])
    log.step("pytest -m cuda: the device tests")
    log.run([py, "-m", "pytest", "-m", "cuda", "-v", "-rs", "-p", "no:cacheprovider", "tests/"])
    log.step("the simulator and PTX tests of the device generator")
    log.run([py, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests/test_kernels_cuda.py"])
    log.step(f"CUDA engine benchmark (batches {args.batches}, {args.nets} networks each)")
    bench = [py, "-m", "montecarlo.bench.gpu", "--nets", args.nets, "--batches", args.batches]
    log.run(bench)
    if out:
        log.run([*bench, "--json"], stdout_to=out / "gpu_bench.json")
    log.step("end to end: 2048 networks of the grid experiment on the cuda backend")
    seconds = log.run([py, "-m", "montecarlo", *GRID, "--nets", "2048", "--batch", "1024", "--backend", "cuda"])
    log.say(f"wall {seconds:.1f} s for 2048 networks ({2048 / seconds:.0f} nets/s with start-up and observables)")
    log.step("the same first 64 networks on both backends: compare the observables")
    log.run([py, "-m", "montecarlo", *GRID, "--nets", "64", "--batch", "64", "--backend", "numba"])
    log.run([py, "-m", "montecarlo", *GRID, "--nets", "64", "--batch", "64", "--backend", "cuda"])
    helptext = subprocess.run([py, "-m", "montecarlo.bench", "--help"], cwd=ROOT, capture_output=True,
                              text=True, check=False).stdout
    if "--backend" in helptext:
        log.step("the CPU bench with --backend cuda")
        log.run([py, "-m", "montecarlo.bench", "--quick", "--backend", "cuda"])
    log.step(f"done: {log.failed} step(s) failed")
    return 1 if log.failed else 0


if __name__ == "__main__":
    sys.exit(main())
