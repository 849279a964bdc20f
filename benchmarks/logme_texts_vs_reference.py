"""How many target texts LogME needs to rank sources as the reference implementations do.

Usage: python benchmarks/logme_texts_vs_reference.py [--library DIR] [--targets trec_coarse]
                                                     [--texts 128 256 384]

For each target: its default profile sample (`selection.profiles.profile_texts`: 512 texts for
MiniLM) read through every library source prompt, then LogME on the first N of those texts for each
`--texts` N and for all of them. Two evidences per source: ours (`logme_score`, the exact marginal
likelihood) and the reference formula (thuml/LogME and hf-dataset-selector: 50 fixed-point updates,
and for N < D the evidence without the −(D − N)/2 · log α term, i.e. ours at that iterate plus
(D − N)/(2N) · log α). Printed per N: Spearman's ρ between the two source rankings, whether their
top-1 agrees, and ρ between our ranking at N and ours on all texts. One target is one ranking of
the library's sources: a ρ here rests on that many sources, not on many targets.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import spearmanr

from intertask.backbones import load_backbone
from intertask.recommend.library import default_library_dir, load_library
from intertask.selection.logme import logme_fit, logme_score
from intertask.selection.profiles import task_profile
from intertask.tasks.registry import get_task

REFERENCE_UPDATES = 50  # hf-dataset-selector's fixed-point updates (thuml: 11)


def reference_evidence(features: np.ndarray, labels: np.ndarray) -> float:
    """The reference formula's LogME (see the module docstring), mean over one-hot columns."""
    n, d = features.shape
    evidences = []
    for label in np.unique(labels):
        fit = logme_fit(features, (labels == label).astype(float), max_iter=REFERENCE_UPDATES, fallback=False)
        evidences.append(fit.evidence + max(d - n, 0) / (2 * n) * np.log(fit.alpha))
    return float(np.mean(evidences))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", default=None)
    parser.add_argument("--targets", nargs="+", default=["trec_coarse"])
    parser.add_argument("--texts", nargs="+", type=int, default=[128, 256, 384])
    args = parser.parse_args()
    library = load_library(args.library or default_library_dir())
    backbone = load_backbone(library.backbone["name"])
    for name in args.targets:
        target = task_profile(get_task(name, progress=False), backbone, seed=0)
        sources = [s for s in library.profiles() if s.name != name]
        features = [target.features(source.prompt) for source in sources]
        labels = np.asarray(target.labels)
        sizes = sorted({n for n in args.texts if n < len(labels)} | {len(labels)})
        ours = {n: np.array([logme_score(f[:n], labels[:n]) for f in features]) for n in sizes}
        print(f"{name}: {len(labels)} texts, {len(sources)} sources, D = {features[0].shape[1]}")
        for n in sizes:
            reference = np.array([reference_evidence(f[:n], labels[:n]) for f in features])
            print(f"  N = {n:4d}: ρ(ours, reference) {spearmanr(ours[n], reference).statistic:+.2f}, "
                  f"same top-1 {bool(np.argmax(ours[n]) == np.argmax(reference))}, "
                  f"ρ(ours at N, ours at {sizes[-1]}) {spearmanr(ours[n], ours[sizes[-1]]).statistic:+.2f}")


if __name__ == "__main__":
    main()
