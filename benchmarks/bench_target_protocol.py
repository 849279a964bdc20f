"""Which target-training protocol makes every suite target learn? The lever comparison of issue 10.

Trains the no-transfer baseline of every target of `configs/library.toml` (all targets packed
in one batch per protocol and seed, MiniLM, CPU) under several protocols and prints, per target,
the test score on the full test split, its floor (the best constant prediction's score on the
same examples), whether it cleared the floor by `LEARNED_MARGIN` points, the steps trained and
the pack's wall time. Results are appended to a JSONL file, so a killed run resumes.

    python benchmarks/bench_target_protocol.py --protocols short probe --seeds 0
    python benchmarks/bench_target_protocol.py --protocols probe --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from intertask.backbones import load_backbone
from intertask.study.config import StudyConfig
from intertask.tasks.metrics import LEARNED_MARGIN, learned
from intertask.tasks.registry import get_task
from intertask.training import RunSpec, TrainConfig, train_packed

ROOT = Path(__file__).resolve().parents[1]
SHARED = dict(backbone="minilm", prompt_length=20, max_length=64, batch_size=16, prompt_lr=0.1,
              max_eval_examples=1000)
# The levers: each protocol changes one or two things against `short` (the first library's target runs).
PROTOCOLS = {
    "short": dict(steps=24, eval_every=12),
    "head-lr": dict(steps=24, eval_every=12, head_lr=0.1),
    "probe": dict(steps=24, eval_every=12, head_init="probe"),
    "probe-cw": dict(steps=24, eval_every=12, head_init="probe", class_weights=True),
    "long": dict(steps=200, eval_every=25, patience=3, head_lr=0.03),
    "probe-long": dict(steps=200, eval_every=25, patience=3, head_init="probe"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=list(PROTOCOLS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "library.toml"))
    parser.add_argument("--targets", nargs="+", help="Targets to train (default: the config's targets).")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "target_protocol.jsonl"))
    args = parser.parse_args()
    torch.manual_seed(0)
    targets = args.targets or StudyConfig.from_toml(args.config).targets
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["protocol"], r["seed"], r["target"]) for r in map(json.loads, out.read_text().splitlines())} \
        if out.exists() else set()
    backbone = load_backbone("minilm")
    tasks = {name: get_task(name, progress=False) for name in targets}
    for protocol in args.protocols:
        for seed in args.seeds:
            todo = [t for t in targets if (protocol, seed, t) not in done]
            if not todo:
                continue
            config = TrainConfig(**SHARED, **PROTOCOLS[protocol], seed=seed)
            start = time.perf_counter()
            results = train_packed([RunSpec(t, tasks[t], config) for t in todo], backbone)
            seconds = time.perf_counter() - start
            with out.open("a") as handle:
                for r in results:
                    row = {"protocol": protocol, "seed": seed, "target": r.task_name, "test": r.test_score,
                           "floor": r.test_floor, "n_test": r.test_examples, "validation": r.validation_score,
                           "best_step": r.best_step, "steps": r.steps, "pack_seconds": round(seconds, 1),
                           "learned": learned(r.test_score, r.test_floor)}
                    handle.write(json.dumps(row) + "\n")
                    print(f"{protocol:10s} seed {seed} {r.task_name:24s} test {r.test_score:5.1f} "
                          f"floor {r.test_floor:5.1f} {'learned' if row['learned'] else 'NOT learned':11s} "
                          f"best step {r.best_step:3d}/{r.steps:3d}", flush=True)
            print(f"{protocol} seed {seed}: {len(todo)} runs in {seconds:.0f} s", flush=True)
    summarise(out)


def summarise(path: Path) -> None:
    """Per protocol: targets that cleared the floor on every seed, and the mean pack time."""
    import pandas as pd

    rows = pd.read_json(path, lines=True)
    print(f"\nlearned = test score >= floor + {LEARNED_MARGIN:g} points, full test split")
    for protocol, group in rows.groupby("protocol", sort=False):
        per_target = group.groupby("target")["learned"].all()
        seeds = sorted(group["seed"].unique())
        print(f"{protocol:10s} seeds {seeds}: {int(per_target.sum())}/{len(per_target)} targets learned on every seed; "
              f"pack {group.groupby('seed')['pack_seconds'].first().mean():.0f} s; "
              f"mean best step {group['best_step'].mean():.0f}; not learned: "
              f"{', '.join(per_target[~per_target].index) or '-'}")


if __name__ == "__main__":
    main()
