"""Large inputs (issue 20, N5): a 1.2M-row transfer matrix and a 100,000-row recommend target, each
command in a fresh process (CPU seconds, wall seconds, peak RSS), with the old code paths timed side
by side where they were slow.

Usage: python benchmarks/bench_large_inputs.py [--targets 1000] [--sources 600] [--seeds 2]
                                               [--slice 50] [--recommend] [--budget-steps 16] [--old-recommend]

Part 1 (matrix, always): a synthetic matrix of `--targets` × `--sources` × `--seeds` rows (1000 × 600 × 2
= 1.2M, with baselines) written as CSV; then `import table`, `consistency --matrix` and `report --matrix`
on it, each in its own process. The targets of issue 20: import and consistency within 30 s and 1 GB,
report within 60 s. Then old against new in this process: the per-cell "every seed has a baseline"
check of `from_long_table` (a Python lambda per cell, now one grouped `all`) on the first `--slice`
targets (on all of them the old path takes minutes), and `seed_consistency` (a pivot and `spearmanr` per
target, now all targets at once per seed pair) on all targets; the ratio old / new.

Part 2 (recommend, with `--recommend`; minutes on CPU): `recommend` on a 1,000-row and a 100,000-row
synthetic 3-class target (shipped MiniLM library, CPU, the default budget unless `--budget-steps`), each
in its own process; the ratio large / small (issue 20: within 2×, under 1.5 GB). `--old-recommend`
also runs the 100,000-row target with the sample cap lifted (`MAX_RUN_TRAIN` = ∞: the old path, where
the probe head reads all 70,000 training texts).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

SRC = str(Path(__file__).resolve().parents[1] / "src")
# runs one CLI command (or recommend with the sample cap lifted) and prints its CPU, wall and peak RSS
CHILD = """
import json, resource, sys, time
sys.argv = sys.argv[1:]
lift = sys.argv[0] == "--lift-cap"
argv = sys.argv[1:] if lift else sys.argv
if lift:
    import intertask.recommend.recommend as rec
    rec.MAX_RUN_TRAIN = float("inf")
from intertask.cli import run
wall, cpu = time.perf_counter(), time.process_time()
code = run(argv)
print(json.dumps({"rc": code, "cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(argv: list[str], lift_cap: bool = False) -> dict:
    """Run `intertask argv` in a fresh process; its rc, CPU and wall seconds and peak RSS."""
    done = subprocess.run([sys.executable, "-c", CHILD, *(["--lift-cap"] if lift_cap else []), *argv],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC})
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if not last.startswith("{"):
        raise SystemExit(f"intertask {' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    return json.loads(last)


def write_matrix(path: Path, n_targets: int, n_sources: int, n_seeds: int) -> int:
    rng = np.random.default_rng(0)
    target = np.repeat(np.arange(n_targets), n_sources * n_seeds)
    source = np.tile(np.repeat(np.arange(n_sources), n_seeds), n_targets)
    seed = np.tile(np.arange(n_seeds), n_targets * n_sources)
    keep = target != source
    frame = pd.DataFrame({"target": pd.Series(target[keep]).map("t{}".format),
                          "source": pd.Series(source[keep]).map("t{}".format), "seed": seed[keep],
                          "score": rng.uniform(40, 90, keep.sum()).round(3), "baseline": 60.0 + target[keep] % 7})
    frame.to_csv(path, index=False)
    return len(frame)


# ---- the old code paths, as they were before issue 20 ------------------------------------------------
def old_measured(table: pd.DataFrame) -> pd.Series:
    return table.groupby(["setting", "target", "source"])["baseline"].transform(lambda b: b.notna().all())


def new_measured(table: pd.DataFrame) -> pd.Series:
    return table["baseline"].notna().groupby([table[c] for c in ("setting", "target", "source")]).transform("all")


def old_seed_consistency(matrix: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for target, frame in matrix.groupby("target", sort=True):
        table = frame.pivot_table(index="source", columns="seed", values="score", aggfunc="mean")
        rhos = []
        for s1, s2 in itertools.combinations(table.columns, 2):
            pair = table[[s1, s2]].dropna()
            if len(pair) < 2 or pair[s1].nunique() < 2 or pair[s2].nunique() < 2:
                continue
            rhos.append(stats.spearmanr(pair[s1], pair[s2])[0])
        rows.append({"target": target, "spearman": float(np.mean(rhos)) if rhos else float("nan")})
    return pd.DataFrame(rows)


def timed(fn, repeat: int = 1) -> tuple[object, float]:
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        value = fn()
        best = min(best, time.process_time() - start)
    return value, best


def matrix_part(args, folder: Path) -> None:
    from intertask.matrix.transfer import TransferMatrix
    from intertask.stats import seed_consistency

    csv_path, parquet = folder / "matrix.csv", folder / "matrix.parquet"
    rows = write_matrix(csv_path, args.targets, args.sources, args.seeds)
    print(f"matrix: {args.targets} targets x {args.sources} sources x {args.seeds} seeds = {rows:,} rows, "
          f"{csv_path.stat().st_size / 2**20:.0f} MiB CSV")
    print(f"{'command':<28}{'CPU s':>8}{'wall s':>9}{'peak RSS MB':>13}  target")
    for name, argv, limit in (
        ("import table", ["import", "table", str(csv_path), "--out", str(parquet)], "30 s, 1 GB"),
        ("consistency --matrix", ["consistency", "--matrix", str(parquet), "--json"], "30 s, 1 GB"),
        ("report --matrix", ["report", "--matrix", str(parquet), "--out", str(folder / "report")], "60 s"),
    ):
        m = measure(argv)
        assert m["rc"] == 0, (name, m)
        print(f"{name:<28}{m['cpu_s']:>8.1f}{m['wall_s']:>9.1f}{m['peak_rss_mb']:>13.0f}  {limit}")

    matrix = TransferMatrix.read(parquet).frame
    part = matrix[matrix["target"].isin(sorted(matrix["target"].unique())[:args.slice])]
    print("\nold vs new, CPU seconds, best of 2:")
    print(f"{'step':<58}{'rows':>10}{'old':>8}{'new':>8}{'old/new':>9}")
    for name, rows_of, old, new in (
        (f"from_long_table: every seed has a baseline ({args.slice} targets)", part, old_measured, new_measured),
        (f"seed_consistency (all {args.targets} targets)", matrix, old_seed_consistency, seed_consistency),
    ):
        (a, t_old), (b, t_new) = timed(lambda: old(rows_of), 2), timed(lambda: new(rows_of), 2)
        if name.startswith("seed_consistency"):
            assert np.allclose(a["spearman"], b["spearman"], equal_nan=True)
        else:
            assert (a.to_numpy() == b.to_numpy()).all()
        print(f"{name:<58}{len(rows_of):>10,}{t_old:>8.2f}{t_new:>8.3f}{t_old / t_new:>8.1f}x")


def write_target(path: Path, n: int) -> None:
    rng = random.Random(0)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho".split()
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for _ in range(n):
            label = rng.randrange(3)
            writer.writerow([" ".join(rng.choice(words) for _ in range(12)) + f" {words[label]}",
                             ["negative", "neutral", "positive"][label]])


def recommend_part(args, folder: Path) -> None:
    print("\nrecommend (shipped MiniLM library, CPU" + (f", --budget-steps {args.budget_steps}" if args.budget_steps else
                                                         ", default budget") + "):")
    print(f"{'target':<34}{'CPU s':>8}{'wall s':>9}{'peak RSS MB':>13}")
    results = {}
    cases = [("1,000 rows", 1000, False), ("100,000 rows", 100_000, False)]
    if args.old_recommend:
        cases.append(("100,000 rows, cap lifted (old)", 100_000, True))
    for name, n, lift in cases:
        path = folder / f"target{n}.csv"
        if not path.exists():
            write_target(path, n)
        argv = ["recommend", "--target", str(path), "--device", "cpu", "--json"]
        argv += ["--budget-steps", str(args.budget_steps)] if args.budget_steps else []
        results[name] = m = measure(argv, lift_cap=lift)
        assert m["rc"] == 0, (name, m)
        print(f"{name:<34}{m['cpu_s']:>8.1f}{m['wall_s']:>9.1f}{m['peak_rss_mb']:>13.0f}")
    small, large = results["1,000 rows"], results["100,000 rows"]
    print(f"100,000 / 1,000 rows: CPU {large['cpu_s'] / small['cpu_s']:.2f}x, wall {large['wall_s'] / small['wall_s']:.2f}x "
          "(issue 20: within 2x, under 1.5 GB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--sources", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--slice", type=int, default=50, help="targets of the old-vs-new comparison")
    parser.add_argument("--recommend", action="store_true", help="also time recommend (minutes)")
    parser.add_argument("--budget-steps", type=int, default=None)
    parser.add_argument("--old-recommend", action="store_true", help="also run the 100,000-row target the old way")
    parser.add_argument("--skip-matrix", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_matrix:
            matrix_part(args, Path(tmp))
        if args.recommend:
            recommend_part(args, Path(tmp))


if __name__ == "__main__":
    main()
