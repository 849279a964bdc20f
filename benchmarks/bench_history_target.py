"""What one history target costs: the training code before the speed-ups and now, side by side.

A history target is measured (issue 17) by training, for each target seed, the no-transfer
baseline and one transfer per library source under the library's target protocol
(configs/library.toml `[target_training]`: probe head evaluated as step 0, 16 steps, batch 8,
validation at steps 0, 8 and 16 on up to 1000 examples, the best checkpoint scored on the test
split). This script trains a slice of that grid -- the baseline and the first `--sources` library
prompts over `--seeds` target seeds, as two `train_packed` calls (the baselines, then the
transfers with every seed of a transfer in the same call; `--per-seed`: one call per seed, as
issue 17 measured) -- once per round with each code, in fresh subprocesses on the same prompts
and configs:

* **before**: the code of commit `BASE` (before the speed-ups), from a temporary `git worktree`;
* **now**: this checkout's code.

It prints wall and CPU seconds of each, the ratio, whether every run's scores agree, and
projects on this CPU (per-run cost of the slice times the grid's run count):

* one history target x 3 seeds x 30 sources (90 transfers + 3 baselines);
* the whole build: 30 sources x 2 seeds trained up to 200 steps (timed on 25 steps of two sources
  and scaled by 8, the patience-free upper bound), plus 20 targets x 3 seeds x (30 sources + baseline).

    python benchmarks/bench_history_target.py                      # trec_coarse, 3 sources x 3 seeds
    python benchmarks/bench_history_target.py --target mcid --threads 2

`--threads` sets torch's threads in the children (1 by default: on a shared 2-core machine a
second thread spins against other jobs; on a quiet machine 2 threads run faster than the CPU
seconds printed here).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = "b0ec84e"  # the last commit before the speed-ups of issue 17 item 6
GRID_SOURCES, GRID_SEEDS, BUILD_TARGETS, SOURCE_SEEDS = 30, 3, 20, 2
SOURCE_STEPS_TIMED, SOURCE_STEPS_MAX = 25, 200
TIMING_SOURCES = ("banking", "20ng")  # short and long source texts (20ng fills max_length 64)


# ---------------------------------------------------------------------------- child: one timed slice


def child(spec_file: str) -> None:
    """Train the slice described in `spec_file` with whatever `intertask` is on sys.path; print JSON."""
    import numpy as np
    import torch

    from intertask.backbones import load_backbone
    from intertask.tasks.registry import load_task
    from intertask.training import RunSpec, TrainConfig, train_packed

    job = json.loads(Path(spec_file).read_text())
    torch.set_num_threads(job["threads"])
    prompts = np.load(job["prompts"]) if job["prompts"] else {}
    backbone = load_backbone("minilm")
    tasks = {name: load_task(name) for name in {run["task"] for pack in job["packs"] for run in pack}}
    timed = []
    for pack in job["packs"]:
        specs = [RunSpec(run["run_id"], tasks[run["task"]], TrainConfig.from_dict(run["config"]),
                         None if run["source"] is None else prompts[run["source"]]) for run in pack]
        wall, cpu = time.perf_counter(), time.process_time()
        results = train_packed(specs, backbone)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rows = [{"run_id": r.run_id, "best_step": r.best_step, "validation": r.validation_score,
                 "test": r.test_score, "history": r.history} for r in results]
        timed.append({"wall": wall, "cpu": cpu, "runs": rows})
    print(json.dumps(timed))


def run_child(src: Path, job: dict, workdir: Path) -> dict:
    spec_file = workdir / "job.json"
    spec_file.write_text(json.dumps(job))
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(["nice", "-n", "10", sys.executable, __file__, "--child", str(spec_file)],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"error: the slice failed under {src}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- parent


def slice_job(args, workdir: Path) -> dict:
    """The target slice in two packs: the baselines of every seed, then `args.sources` transfers x
    every seed (so the seeds of one transfer share a pack, as `library measure` packs them)."""
    import numpy as np

    from intertask.recommend.library import default_library_dir, load_library
    from intertask.study.config import StudyConfig
    from intertask.study.plan import resolve_train_config

    config = StudyConfig.from_toml(ROOT / "configs" / "library.toml")
    sources = load_library(default_library_dir()).sources[:args.sources]
    np.savez(workdir / "prompts.npz", **{s.name: s.prompt for s in sources})

    def run(source, seed: int) -> dict:
        train = resolve_train_config(config, config.target_training, seed, snapshots=source is None).to_dict()
        name = source.name if source else "baseline"
        return {"run_id": f"{args.target}:{name}:{seed}", "task": args.target, "config": train,
                "source": source.name if source else None}

    if args.per_seed:
        packs = [[run(source, seed) for source in [None, *sources]] for seed in args.seeds]
    else:
        packs = [[run(None, seed) for seed in args.seeds], [run(s, seed) for s in sources for seed in args.seeds]]
    return {"threads": args.threads, "prompts": str(workdir / "prompts.npz"), "packs": packs}


def source_job(args) -> dict:
    """Two source tasks x 2 seeds, `SOURCE_STEPS_TIMED` steps of the library's source protocol, one pack."""
    from intertask.study.config import StudyConfig
    from intertask.study.plan import resolve_train_config

    config = StudyConfig.from_toml(ROOT / "configs" / "library.toml")
    runs = []
    for task in TIMING_SOURCES:
        for seed in range(SOURCE_SEEDS):
            train = resolve_train_config(config, config.source_training, seed, snapshots=False).to_dict()
            train.update(steps=SOURCE_STEPS_TIMED, eval_every=SOURCE_STEPS_TIMED)
            runs.append({"run_id": f"{task}:{seed}", "task": task, "source": None, "config": train})
    return {"threads": args.threads, "prompts": None, "packs": [runs]}


def agreement(before: list[dict], now: list[dict]) -> str:
    """How the two codes' results compare, run by run."""
    pairs = [(b, n) for pb, pn in zip(before, now) for b, n in zip(pb["runs"], pn["runs"])]
    same = sum(b["test"] == n["test"] and b["validation"] == n["validation"] and b["best_step"] == n["best_step"]
               and [list(h) for h in b["history"]] == [list(h) for h in n["history"]] for b, n in pairs)
    worst = max(abs(b["test"] - n["test"]) for b, n in pairs)
    return (f"{same}/{len(pairs)} runs with identical validation history, best step and test score "
            f"(largest test-score difference {worst:.3g} points)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="trec_coarse")
    parser.add_argument("--sources", type=int, default=3, help="Library sources in the slice (the first ones).")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="Interleaved before/now rounds (the lower CPU time counts).")
    parser.add_argument("--per-seed", action="store_true",
                        help="One pack per target seed (baseline + sources), as measured in issue 17, instead of "
                             "the baselines' pack and the transfers' pack with every seed of a transfer together.")
    parser.add_argument("--no-build", action="store_true", help="Skip timing the source phase for the build projection.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_history_") as tmp:
        tmp = Path(tmp)
        base = tmp / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(base), BASE], check=True)
        try:
            job = slice_job(args, tmp)
            timings = {"before": [], "now": []}
            for _ in range(args.rounds):
                for name, src in (("before", base / "src"), ("now", ROOT / "src")):
                    timings[name].append(run_child(src, job, tmp))
                    print(f"  {name}: " + ", ".join(f"wall {p['wall']:.1f} s cpu {p['cpu']:.1f} s"
                                                    for p in timings[name][-1]), flush=True)
            sources = None if args.no_build else run_child(ROOT / "src", source_job(args), tmp)[0]
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)

    best = {name: min(t, key=lambda packs: sum(p["cpu"] for p in packs)) for name, t in timings.items()}
    n_seeds, n_sources = len(args.seeds), args.sources
    packing = (f"one pack per seed of the baseline + {n_sources} sources" if args.per_seed else
               f"a pack of {n_seeds} baselines, then a pack of {n_sources} sources x {n_seeds} seeds")
    print(f"\nslice: {args.target}, seeds {args.seeds}: {packing}; {args.threads} torch thread(s); "
          f"load average now {os.getloadavg()[0]:.1f}")
    print(f"{'code':8s} {'wall s':>8s} {'cpu s':>8s} {'cpu s/baseline':>15s} {'cpu s/transfer':>15s}")
    per_run = {}  # (cpu s per baseline, per transfer); with per-seed packs, both the mean over all runs
    for name in ("before", "now"):
        packs = best[name]
        if args.per_seed:
            mean = sum(p["cpu"] for p in packs) / (n_seeds * (n_sources + 1))
            per_run[name] = (mean, mean)
        else:
            per_run[name] = (packs[0]["cpu"] / n_seeds, packs[1]["cpu"] / (n_seeds * n_sources))
        print(f"{name:8s} {sum(p['wall'] for p in packs):8.1f} {sum(p['cpu'] for p in packs):8.1f} "
              f"{per_run[name][0]:15.2f} {per_run[name][1]:15.2f}")
    total = {name: sum(p["wall"] for p in best[name]) for name in best}
    cpu = {name: sum(p["cpu"] for p in best[name]) for name in best}
    print(f"ratio before/now: wall {total['before'] / total['now']:.2f}x, cpu {cpu['before'] / cpu['now']:.2f}x")
    print("agreement: " + agreement(best["before"], best["now"]))

    def grid(name: str) -> float:  # cpu seconds of one history target: 3 baselines + 3 x 30 transfers
        return GRID_SEEDS * per_run[name][0] + GRID_SEEDS * GRID_SOURCES * per_run[name][1]

    print(f"\nprojected one history target x {GRID_SEEDS} seeds x {GRID_SOURCES} sources "
          f"({GRID_SEEDS * (GRID_SOURCES + 1)} runs), cpu minutes at {args.threads} thread(s): "
          f"before {grid('before') / 60:.1f}, now {grid('now') / 60:.1f}")
    if sources is not None:
        per_source_run = sources["cpu"] / len(sources["runs"]) * SOURCE_STEPS_MAX / SOURCE_STEPS_TIMED
        source_phase = per_source_run * GRID_SOURCES * SOURCE_SEEDS
        target_phase = grid("now") * BUILD_TARGETS
        print(f"projected build, cpu hours: sources {GRID_SOURCES} x {SOURCE_SEEDS} seeds x <= {SOURCE_STEPS_MAX} "
              f"steps ({per_source_run:.0f} s/run, {SOURCE_STEPS_TIMED} steps of {', '.join(TIMING_SOURCES)} "
              f"x {SOURCE_STEPS_MAX // SOURCE_STEPS_TIMED}) {source_phase / 3600:.1f} + targets {BUILD_TARGETS} x "
              f"{GRID_SEEDS * (GRID_SOURCES + 1)} runs {target_phase / 3600:.1f} = {(source_phase + target_phase) / 3600:.1f}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
