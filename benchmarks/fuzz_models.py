"""Fuzz lpir's entry points with mutated real models: any number of cases, any seed.

    python benchmarks/fuzz_models.py --cases 100000 --seed 1

Prints the outcome counts (ok, lpir-error, run-time-net, failure) and every failure with the
seed that reproduces it. The test suite runs the same fuzzer on a bounded number of cases.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    multiprocessing.set_start_method("forkserver", force=True)
    from fuzz.harness import fuzz
    from fuzz.seeds import all_seeds
    seeds = all_seeds()
    started = time.perf_counter()
    done = [0]

    def tick() -> None:
        done[0] += 1
        if done[0] % 1000 == 0:
            print(f"  {done[0]:,} cases, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)

    summary = fuzz(seeds, args.cases, seed=args.seed, workers=args.workers, progress=tick)
    elapsed = time.perf_counter() - started
    print(f"{summary.total:,} cases over {len(seeds)} seed models in {elapsed:.0f} s ({summary.total / elapsed:.1f}/s)")
    for kind in ("ok", "lpir-error", "run-time-net", "failure"):
        print(f"  {kind:<13} {summary.counts.get(kind, 0):>8,}")
    for outcome in summary.failures + summary.net:
        print(f"{outcome.kind}: {outcome.seed_name} case {outcome.case_seed} at {outcome.stage}: "
              f"{outcome.detail.strip().splitlines()[-1] if outcome.detail else ''}")
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
