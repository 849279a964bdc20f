"""On a CUDA GPU: the offline-suite study at its paper-like budget, end to end, timed (issue 10, item 6).

One command for whoever has a GPU for ten minutes. It prints, side by side from this one process:

1. packed training throughput: one MiniLM run against 16 and 64 runs packed (examples/s and ratio);
2. the whole `configs/offline-suite.toml` study (24 source runs, 39 baselines, 468 transfers) with
   the wall time of each phase and the study's runs that did not clear their floor;
3. its export (`matrix.csv`) and the selector evaluation (`evaluation.json`) under `--out`.

    python benchmarks/gpu_offline_suite.py --store /tmp/offline-suite --out "$OUT"

Kill it and run it again: the study resumes from the store. Without CUDA it stops at once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import bench_intertask  # noqa: E402  (the same packed-throughput measurement)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "offline-suite.toml"))
    parser.add_argument("--store", default="/tmp/intertask-offline-suite")
    parser.add_argument("--out", default=".")
    parser.add_argument("--device", default="cuda", help="cuda (default); cpu only to smoke-test a tiny --config")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("error: no CUDA device; this benchmark is for a GPU machine (on CPU use configs/quickstart.toml)")

    from intertask.backbones import load_backbone
    from intertask.evaluation import evaluate
    from intertask.evaluation.from_store import predictions_from_store
    from intertask.study.config import StudyConfig
    from intertask.study.export import export_study, read_study
    from intertask.study.runner import run_study
    from intertask.tasks.registry import get_task

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    print(f"device: {name}, torch {torch.__version__}", flush=True)

    # 1. packed vs single throughput on a real target (trec_coarse), the study's own shapes
    config = StudyConfig.from_toml(args.config)
    backbone = load_backbone(config.backbone, device=args.device)
    task = get_task("trec_coarse", progress=False)
    shapes = dict(steps=20, batch_size=config.training.batch_size, prompt_length=config.training.prompt_length,
                  max_length=config.training.max_length)
    speed = {runs: bench_intertask(task, backbone, runs, **shapes) for runs in (1, 16, 64)}
    for runs, value in speed.items():
        print(f"packed throughput: {runs:3d} run(s) {value:9.0f} examples/s  ({value / speed[1]:.2f}x one run)", flush=True)
    del backbone
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()

    # 2. the study, timed per phase from the runs' own wall times
    start = time.perf_counter()
    summary = run_study(config, args.store, progress=True)
    wall = time.perf_counter() - start
    print(f"study: {summary['done']}/{summary['total']} runs done, {summary['failed']} failed, {wall:.0f} s wall "
          f"({summary['trained']} trained now)", flush=True)
    for kind, counts in summary["by_kind"].items():
        print(f"  {kind:9s} {counts['done']:4d} done  {counts['failed']:3d} failed", flush=True)
    view = read_study(args.store)
    floored = view.matrix.not_learned()
    print(f"baselines that did not clear their floor: {len(floored)} of "
          f"{view.matrix.frame[['target', 'seed']].drop_duplicates().shape[0]} (target, seed) cases "
          f"{sorted({t for _, t, _ in floored})}", flush=True)

    # 3. what to bring home
    export_study(args.store, out / "matrix.csv")
    start = time.perf_counter()
    evaluation = evaluate(view.matrix, predictions_from_store(view, progress=False, device=args.device))
    (out / "evaluation.json").write_text(json.dumps(evaluation.to_dict(), indent=1))
    print(f"evaluation: {time.perf_counter() - start:.0f} s; wrote {out / 'matrix.csv'} and {out / 'evaluation.json'}")
    timings = {"packed_examples_per_s": speed, "study_wall_s": wall, "summary": summary}
    (out / "timings.json").write_text(json.dumps(timings, indent=1, default=str))


if __name__ == "__main__":
    main()
