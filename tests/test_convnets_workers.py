"""Worker processes of the convnet experiments (montecarlo.convnets.workers): shared data per call,
processes kept across calls inside ``kept_workers`` (and only there), the same numbers either way."""
import dataclasses
import os

import pytest
import torch

from montecarlo.convnets.workers import kept_workers, run_jobs

from .test_convnets_training import _tiny, _without_times


def job_pid_and_shared(shared, i):
    """A job: the process that ran it and what ``shared`` it saw."""
    return os.getpid(), shared["tag"], i


def _run(tag, jobs=4):
    return sorted((r for _, r in run_jobs(job_pid_and_shared, [(i,) for i in range(jobs)], 2, 1, {"tag": tag})),
                  key=lambda r: r[2])


def test_each_call_sees_its_own_shared_and_kept_processes_serve_the_next_call():
    first, second = _run("a"), _run("b")
    assert {t for _, t, _ in first} == {"a"} and {t for _, t, _ in second} == {"b"}
    assert not {p for p, _, _ in first} & {p for p, _, _ in second}  # a fresh pool per call
    with kept_workers():
        kept_a, kept_b = _run("a"), _run("b")
        with kept_workers():  # a nested scope shares the outer one
            kept_c = _run("c", jobs=2)
    assert [i for _, _, i in kept_a] == list(range(4)) and {t for _, t, _ in kept_b} == {"b"}
    pids = {p for p, _, _ in kept_a}
    assert {p for p, _, _ in kept_b} <= pids and {p for p, _, _ in kept_c} <= pids and os.getpid() not in pids
    assert not pids & {p for p, _, _ in _run("d")}  # the scope has ended: new processes again


def test_fig5_and_fig6_in_kept_processes_give_the_single_process_documents():
    """Both Fig. 5 settings and a training run in one set of kept processes (as reports.produce runs
    them) equal the one-process runs, bit for bit: a job does not depend on what its process ran before."""
    from montecarlo.convnets.experiments import fig5
    from montecarlo.convnets.specs import TrainingPlan
    from montecarlo.convnets.training import fig6
    cfg, data = _tiny()
    cfg = dataclasses.replace(cfg, torch_threads=1)
    plan = TrainingPlan(archs=("crelu-ll", "resnet"), depths=(8,), seeds=2, epochs=1, config=cfg)
    images, labels = data[0], data[1]
    tiny = {"depths": [2, 4], "minibatches": 3, "width": 4, "batch_size": 8}
    settings = [tiny, {**tiny, "loss": "sum", "bn_backward": "constant"}]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        here = [fig5(images, labels, **kw)["configs"] for kw in settings] + [_without_times(fig6(plan, *data))]
        with kept_workers():
            there = [fig5(images, labels, workers=2, **kw)["configs"] for kw in settings]
            there.append(_without_times(fig6(plan, *data, workers=2)))
    finally:
        torch.set_num_threads(threads)
    assert there == here


def test_a_failing_job_is_raised_and_the_kept_processes_still_serve():
    with kept_workers():
        with pytest.raises(KeyError):
            list(run_jobs(job_pid_and_shared, [(0,), (1,)], 2, 1, {}))
        assert {t for _, t, _ in _run("after")} == {"after"}
