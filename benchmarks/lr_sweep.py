"""Learning-rate sweep for prompt tuning on MiniLM (CPU): which prompt/head learning rates work?

All settings train packed in one process (so the sweep costs about one run per setting's share of
the CPU). Prints one line per setting: validation score at each evaluation, best validation and test.

    OMP_NUM_THREADS=1 python benchmarks/lr_sweep.py --task trec_coarse --steps 200
"""

from __future__ import annotations

import argparse
import itertools
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="trec_coarse")
    parser.add_argument("--backbone", default="minilm")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--prompt-lrs", default="0.03,0.1,0.3")
    parser.add_argument("--head-lrs", default="0.003,0.01")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from intertask.backbones import load_backbone
    from intertask.tasks.registry import get_task
    from intertask.training import RunSpec, TrainConfig, train_packed

    task = get_task(args.task, progress=False)
    backbone = load_backbone(args.backbone)
    grid = list(itertools.product([float(x) for x in args.prompt_lrs.split(",")],
                                  [float(x) for x in args.head_lrs.split(",")]))
    grid.append((1e-6, max(float(x) for x in args.head_lrs.split(","))))  # head only: is the prompt doing anything?
    specs = [RunSpec(f"p{p}-h{h}", task, TrainConfig(backbone=args.backbone, steps=args.steps, prompt_lr=p, head_lr=h,
                                                     eval_every=max(1, args.steps // 4), seed=args.seed))
             for p, h in grid]
    start = time.perf_counter()
    results = train_packed(specs, backbone)
    print(f"{args.task} on {args.backbone}, {args.steps} steps, seed {args.seed}, {time.perf_counter() - start:.0f} s")
    for r in results:
        curve = " ".join(f"{v:.1f}" for _, v in r.history)
        print(f"{r.run_id:>16}  validation curve [{curve}]  best {r.validation_score:.1f} @ {r.best_step}  test {r.test_score:.1f}")


if __name__ == "__main__":
    main()
