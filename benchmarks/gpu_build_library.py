"""The whole library build as one command, timed per phase: sources, then the history one target at a time.

    python benchmarks/gpu_build_library.py --config configs/library-large.toml --out "$OUT/library"

1. sources: the config's sources × source seeds under its `[source_training]` protocol, trained into
   the study store `--store` (resumable) and written as a library at `--out` (ESM-LogME maps
   included); a library already at `--out` keeps the history it measured;
2. history: `library measure` for every target of the config on every target seed, one target at a
   time; each target's transfers are appended to the library as they finish;
3. `timings.json` beside the library: wall seconds of each phase and of each target, and the
   projected cost per target.

Kill it and run it again: finished source runs come from the store and measured cells from the
library, so nothing is trained twice. On a GPU the packs are large (one target's seeds × sources in
one pack); `--device cpu` runs the same build on this machine (hours for the large config).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "library.toml"))
    parser.add_argument("--store", default="/tmp/intertask-library-store")
    parser.add_argument("--out", required=True, help="library directory to write and grow")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--pack-size", type=int, default=None,
                        help="runs per pack (default: every run of a target on cuda, 12 on cpu)")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("error: no CUDA device; pass --device cpu to build on this machine")

    from intertask.backbones import load_backbone
    from intertask.recommend import build_library
    from intertask.recommend.library import load_library
    from intertask.recommend.measure import measure_target
    from intertask.study.config import StudyConfig

    config = StudyConfig.from_toml(args.config)
    out = Path(args.out)
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    print(f"device: {name}, torch {torch.__version__}; {len(config.sources)} sources x {len(config.source_seeds)} "
          f"seeds, {len(config.targets)} targets x {len(config.target_seeds)} seeds", flush=True)
    backbone = load_backbone(config.backbone, device=args.device)
    timings: dict = {"device": name, "config": str(args.config), "targets": {}}

    start = time.perf_counter()
    build_library(config, out, store_path=args.store, device=args.device, backbone=backbone)
    timings["sources_s"] = time.perf_counter() - start
    print(f"sources: {timings['sources_s']:.0f} s", flush=True)

    n_sources = len(load_library(out).sources)
    pack = args.pack_size or ((n_sources + 1) * len(config.target_seeds) if args.device.startswith("cuda") else 12)
    for target in config.targets:
        start = time.perf_counter()
        done = measure_target(out, target, seeds=config.target_seeds, task_options=config.task_options.get(target),
                              pack_size=pack, device=args.device, backbone=backbone)
        seconds = time.perf_counter() - start
        timings["targets"][target] = {"seconds": seconds, "runs": done.trained, "failed": len(done.failed),
                                      "baseline_learned": done.baseline_learned}
        print(f"{target}: {done.trained} runs in {seconds:.0f} s, baseline learned {done.baseline_learned}, "
              f"{len(done.failed)} failed", flush=True)
    measured = [t for t in timings["targets"].values() if t["runs"]]
    if measured:
        per_run = sum(t["seconds"] for t in measured) / sum(t["runs"] for t in measured)
        timings["seconds_per_run"] = per_run
        timings["projected_target_s"] = per_run * (n_sources + 1) * len(config.target_seeds)
        print(f"history: {per_run:.2f} s per run, {timings['projected_target_s']:.0f} s per target "
              f"({n_sources} sources + baseline, {len(config.target_seeds)} seeds)", flush=True)
    (out.parent / "timings.json").write_text(json.dumps(timings, indent=1))


if __name__ == "__main__":
    main()
