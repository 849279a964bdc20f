"""ESM-LogME vs prompt-LogME: cost per source, measured side by side, their agreement, and a
synthetic 1,000-source library.

Usage: python benchmarks/bench_esm_logme.py [--library DIR] [--targets trec_coarse fever mcid]
                                            [--texts 128] [--synthetic-sources 1000]

Part 1 (real): the library's sources (default: the shipped MiniLM library) and each target's
first `--texts` training texts (as `recommend` samples them). Per target, prompt-LogME reads the
texts through every source prompt (one backbone pass per source) and runs LogME; ESM-LogME runs
one backbone pass without a prompt, then per source one matrix product and LogME. Printed: the
per-source cost of each, the one-off base pass, the ratio, and Spearman's ρ between the two
rankings. The maps themselves (built once per library: two backbone passes over up to 512 of
the source's texts) are timed too. Then LogME alone, on the target's features read through the
first source's prompt: one decomposition for all K label columns (now) against one per column
(LogME before issue 11, where a 6-class target cost ~6x a binary one), best of 3.

Part 2 (synthetic): `--synthetic-sources` maps, each one of the library's maps plus noise (10%
of its spread), scored on the last target's real base features and labels: the time to score
all of them (what a 1,000-source library costs per target on this machine), next to
prompt-LogME's measured per-source cost times the same number of sources.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from scipy.stats import spearmanr

from intertask.backbones import load_backbone
from intertask.recommend.esm_maps import source_esm_map
from intertask.recommend.library import default_library_dir, load_library
from intertask.selection import TaskProfile, make_selector
from intertask.selection.logme import logme_columns, logme_fit
from intertask.selection.profiles import task_profile
from intertask.tasks.registry import get_task


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", default=str(default_library_dir()))
    parser.add_argument("--targets", nargs="+", default=["trec_coarse", "fever", "mcid"],
                        help="targets (trec_coarse 6 classes, fever 2, mcid 16)")
    parser.add_argument("--texts", type=int, default=128, help="target texts (recommend uses 128)")
    parser.add_argument("--synthetic-sources", type=int, default=1000)
    args = parser.parse_args()

    library = load_library(args.library)
    backbone = load_backbone(library.backbone["name"])
    print(f"library {args.library}: {len(library.sources)} sources, backbone {library.backbone['name']}")

    # the maps (build time, once per library)
    maps_seconds = []
    for source in library.sources:
        if source.esm_map is None:
            source.esm_map, seconds = _timed(lambda: source_esm_map(get_task(source.name, progress=False),
                                                                    backbone, source.prompt))
            maps_seconds.append(seconds)
    if maps_seconds:
        print(f"maps fitted here (the library had none): {np.mean(maps_seconds):.2f} s per source "
              f"({sum(maps_seconds):.1f} s for {len(maps_seconds)}), paid once at build time")
    sources = library.profiles()

    print(f"\n{'target':<22}{'prompt-LogME s/source':>23}{'ESM-LogME s/source':>20}{'base pass s':>13}"
          f"{'ratio':>8}{'Spearman':>10}")
    per_source_prompt, logme_alone = [], []
    for name in args.targets:
        target = task_profile(get_task(name, progress=False), backbone, seed=0, max_texts=args.texts)
        logme = make_selector("logme").fit(sources)
        esm = make_selector("esm_logme").fit(sources)
        prompt_scores, prompt_seconds = _timed(lambda: logme.score(target))
        base, base_seconds = _timed(lambda: target.features(None))
        # the per-source part alone: the base pass (once per target) is timed above, and subtracting
        # it from a timing that includes it leaves only noise
        with_base = dataclasses.replace(target, features=lambda prompt: base)
        esm_scores, esm_seconds = _timed(lambda: esm.score(with_base))
        n = len(sources)
        prompt_each = prompt_seconds / n
        esm_each = esm_seconds / n
        per_source_prompt.append(prompt_each)
        rho = spearmanr(prompt_scores, esm_scores).statistic
        print(f"{name:<22}{prompt_each:>23.4f}{esm_each:>20.4f}{base_seconds:>13.3f}"
              f"{prompt_each / max(esm_each, 1e-9):>7.0f}×{rho:>10.2f}")
        features, columns = target.features(sources[0].prompt), np.unique(target.labels)
        once = min(_timed(lambda: logme_columns(features, target.labels))[1] for _ in range(3))
        per_class = min(_timed(lambda: [logme_fit(features, target.labels == c) for c in columns])[1]
                        for _ in range(3))
        logme_alone.append((name, len(columns), once, per_class))

    print(f"\n{'target':<22}{'classes':>8}{'LogME ms, one decomposition':>29}{'one per class (before) ms':>27}"
          f"{'ratio':>8}")
    for name, classes, once, per_class in logme_alone:
        print(f"{name:<22}{classes:>8}{once * 1000:>29.1f}{per_class * 1000:>27.1f}{per_class / once:>7.1f}×")

    # a synthetic library of many sources: the real maps, each perturbed, on the last target's real
    # base features and labels (random isotropic features would be a harder, less realistic case)
    s = args.synthetic_sources
    rng = np.random.default_rng(0)
    real = [source.esm_map for source in sources]
    scale = float(np.std(real[0]))
    maps = [TaskProfile(f"s{i}", 1, esm_map=(real[i % len(real)] + 0.1 * scale * rng.normal(size=real[0].shape))
                        .astype(np.float32)) for i in range(s)]
    base = target.features(None)
    synthetic = TaskProfile("synthetic", len(base), labels=target.labels, features=lambda prompt: base)
    selector, fit_seconds = _timed(lambda: make_selector("esm_logme").fit(maps))
    _, score_seconds = _timed(lambda: selector.score(synthetic))
    classes = len(np.unique(target.labels))
    print(f"\nsynthetic library: {s} sources (the {len(real)} real maps, perturbed), target {name}: "
          f"{len(base)} examples, {classes} classes")
    print(f"  ESM-LogME: {score_seconds:.2f} s to score all ({score_seconds / s * 1000:.2f} ms per source; "
          f"{selector.unconverged_} of {s * classes} LogME fits needed the fallback; stacking the maps "
          f"{fit_seconds:.2f} s, once per library load)")
    print(f"  prompt-LogME at the measured {np.mean(per_source_prompt):.3f} s per source: "
          f"~{np.mean(per_source_prompt) * s:.0f} s (estimated, not run)")

if __name__ == "__main__":
    main()
