"""Run mutated models through every public entry point, each case in a guarded worker process.

A case writes the mutated files into a fresh folder and calls, in order, ``read_model``,
``inspect_model``, ``compile_model`` with one run on small inputs, and ``save_model`` followed
by a second ``read_model``. Outcomes:

* ``ok``: everything ran (or stopped at an LpirError: ``lpir-error``);
* ``run-time-net``: an EvaluationError that only the interpreter's run-time wrapper caught (the
  contract holds, but compile-time checks let a bad graph through);
* ``failure``: any other exception, a crash, a hang or running out of memory.

Workers run cases one after another with a memory cap (RLIMIT_AS) and a per-case time limit;
a crashed or hung worker is replaced and the case is reported with its seed, so any failure is
reproduced with ``run_case(seed_name, case_seed)``.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import resource
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fuzz.mutate import mutate_ir, mutate_onnx

MEMORY_CAP = 6 << 30  # bytes of address space per worker
CASE_SECONDS = 60.0  # generous: a loaded machine runs the slowest valid cases for many seconds
MAX_INPUT_ELEMENTS = 1 << 18  # inputs larger than the seeds' own (a dim mutated to 2^20) are not run


@dataclass
class Outcome:
    seed_name: str
    case_seed: int
    kind: str  # ok | lpir-error | run-time-net | failure
    stage: str = ""
    detail: str = ""


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[Outcome] = field(default_factory=list)
    net: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.kind] = self.counts.get(outcome.kind, 0) + 1
        if outcome.kind == "failure":
            self.failures.append(outcome)
        elif outcome.kind == "run-time-net":
            self.net.append(outcome)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


# ----------------------------------------------------------------------------- one case

def run_case(seeds: dict[str, tuple[str, dict[str, bytes]]], seed_name: str, case_seed: int) -> Outcome:
    """Mutate seed ``seed_name`` with ``case_seed`` and drive every entry point with the result."""
    kind, files = seeds[seed_name]
    rng = random.Random(case_seed)
    mutated = (mutate_ir if kind == "ir" else mutate_onnx)(files, rng)
    with tempfile.TemporaryDirectory(prefix="lpir-fuzz-") as folder:
        for name, data in mutated.items():
            (Path(folder) / name).write_bytes(data)
        path = Path(folder) / ("model.xml" if kind == "ir" else "model.onnx")
        return _drive(path, Path(folder), seed_name, case_seed)


def _drive(path: Path, folder: Path, seed_name: str, case_seed: int) -> Outcome:
    import lpir
    from lpir.errors import EvaluationError, LpirError
    stage = "read_model"
    worst = "ok"
    try:
        model = lpir.read_model(path)
    except LpirError:
        return Outcome(seed_name, case_seed, "lpir-error", stage)
    except Exception:  # noqa: BLE001 - the point of fuzzing: anything else is a finding
        return Outcome(seed_name, case_seed, "failure", stage, _short_traceback())
    stages = (("inspect_model", lambda: lpir.inspect_model(model)),
              ("compile_model+run", lambda: _compile_and_run(lpir, model)),
              ("save_model+read", lambda: (lpir.save_model(model, folder / "saved.xml"),
                                           lpir.read_model(folder / "saved.xml"))))
    for stage, call in stages:
        try:
            call()
        except EvaluationError as exc:
            if exc.__cause__ is not None and not isinstance(exc.__cause__, LpirError):
                return Outcome(seed_name, case_seed, "run-time-net", stage, f"{exc}"[:300])
            worst = "lpir-error"
        except LpirError:
            worst = "lpir-error"
        except Exception:  # noqa: BLE001
            return Outcome(seed_name, case_seed, "failure", stage, _short_traceback())
    return Outcome(seed_name, case_seed, worst)


def _short_traceback() -> str:
    """The last frames and the exception, each line cut to 300 characters."""
    return "\n".join(line[:300] for line in traceback.format_exc(limit=-3).splitlines())


def _compile_and_run(lpir, model) -> None:
    compiled = lpir.compile_model(model)
    inputs = []
    rng = np.random.default_rng(0)
    for out in model.inputs:
        shape = tuple(d if isinstance(d, int) else max(getattr(d, "lo", 1), 1) for d in (out.shape or ()))
        if int(np.prod(shape, dtype=np.int64)) > MAX_INPUT_ELEMENTS:
            return
        dtype = out.etype.dtype
        if out.etype.is_float:
            inputs.append(rng.random(shape).astype(dtype))
        else:
            inputs.append(rng.integers(0, 2, size=shape).astype(dtype))
    compiled(inputs)


# ----------------------------------------------------------------------------- workers

def _worker(seeds, jobs, results) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    import warnings
    warnings.simplefilter("ignore")
    for seed_name, case_seed in iter(jobs.recv, None):
        try:
            outcome = run_case(seeds, seed_name, case_seed)
        except MemoryError:
            outcome = Outcome(seed_name, case_seed, "failure", "", "MemoryError (no resource guard refused it)")
        results.send(outcome)


class _Worker:
    def __init__(self, context, seeds):
        self.jobs, child_jobs = context.Pipe()
        child_results, self.results = context.Pipe()
        self.process = context.Process(target=_worker, args=(seeds, child_jobs, child_results), daemon=True)
        self.process.start()

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()


def fuzz(seeds: dict[str, tuple[str, dict[str, bytes]]], cases: int, *, seed: int = 0, workers: int = 2,
         progress=None) -> Summary:
    """Run ``cases`` mutated cases spread over the seeds, ``workers`` processes at a time."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    context = multiprocessing.get_context("forkserver")
    rng = random.Random(seed)
    names = sorted(seeds)
    jobs = [(names[i % len(names)], rng.randrange(1 << 30)) for i in range(cases)]
    summary = Summary()
    pool = [_Worker(context, seeds) for _ in range(min(workers, max(len(jobs), 1)))]
    pending: dict[int, tuple[tuple[str, int], float]] = {}
    try:
        while jobs or pending:
            for i, worker in enumerate(pool):
                if i not in pending and jobs:
                    job = jobs.pop()
                    worker.jobs.send(job)
                    pending[i] = (job, time.monotonic())
            for i, worker in enumerate(pool):
                if i not in pending:
                    continue
                job, started = pending[i]
                if worker.results.poll(0.01):
                    try:
                        summary.add(worker.results.recv())
                    except EOFError:
                        summary.add(Outcome(*job, "failure", "", "worker died (crash)"))
                        worker.stop()
                        pool[i] = _Worker(context, seeds)
                    del pending[i]
                    if progress:
                        progress()
                elif not worker.process.is_alive() or time.monotonic() - started > CASE_SECONDS:
                    reason = "worker died (crash)" if not worker.process.is_alive() else f"hang (> {CASE_SECONDS:.0f} s)"
                    summary.add(Outcome(*job, "failure", "", reason))
                    worker.stop()
                    pool[i] = _Worker(context, seeds)
                    del pending[i]
    finally:
        for worker in pool:
            worker.jobs.send(None) if worker.process.is_alive() else None
            worker.stop()
    return summary
