"""Measure the leak check's near-duplicate threshold on the offline suite (docs/findings.md, "Leak check").

Two distributions of SimHash Hamming distance (`intertask.recommend.leakage`):

* **different texts** — for every (target, source) pair of the suite, each target text (all splits)
  that is not an exact normalised match of a source text, and its nearest source text (train and
  validation splits): the share of target texts within k bits of some source text is the rate at
  which the check would call different texts copies;
* **edited copies** — each target text and a copy with one edit (a character replaced, a word
  dropped, a word repeated, a word of the text swapped with its neighbour): the share within k
  bits is the rate at which the check finds a lightly edited copy.

    python benchmarks/leak_threshold.py            # ~1 min on 2 cores once the suite is prepared
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np

from intertask.recommend.leakage import MIN_NEAR_CHARS, fingerprints, normalise, simhash, source_fingerprints, task_texts
from intertask.tasks.registry import get_task
from intertask.tasks.suite import SUITE

MAX_K = 12


def edit(text: str, rng: random.Random) -> str:
    words = text.split()
    kind = rng.choice(["char", "drop", "repeat", "swap"]) if len(words) > 2 else "char"
    if kind == "char":
        i = rng.randrange(len(text))
        return text[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + text[i + 1:]
    i = rng.randrange(len(words) - 1)
    if kind == "drop":
        words.pop(i)
    elif kind == "repeat":
        words.insert(i, words[i])
    else:
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def min_distances(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    out = np.empty(len(target), dtype=np.int64)
    for start in range(0, len(target), 512):
        out[start:start + 512] = np.bitwise_count(target[start:start + 512, None] ^ source[None, :]).min(axis=1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    sources = [n for n, t in SUITE.items() if t.role == "source"]
    targets = [n for n, t in SUITE.items() if t.role == "target"]
    start = time.perf_counter()
    source_fp = {n: source_fingerprints(get_task(n, progress=False)) for n in sources}
    print(f"fingerprints of {len(sources)} sources: {time.perf_counter() - start:.1f} s, "
          f"{sum(len(f) for f in source_fp.values())} texts, {sum(f.nbytes for f in source_fp.values()) / 1e6:.2f} MB")
    # Every suite task is a target here, sources included (a source against the other sources).
    different, edited, exact_pairs = [], [], []
    for name in sources + targets:
        every = fingerprints(task_texts(get_task(name, progress=False)))
        texts = [t for t in {normalise(t) for t in task_texts(get_task(name, progress=False))} if len(t) >= MIN_NEAR_CHARS]
        target = fingerprints(texts)
        for other, fp in source_fp.items():
            if other == name:
                continue
            shared = int(np.isin(every[:, 0], fp[:, 0]).sum())
            if shared:
                exact_pairs.append((name, other, shared, len(every)))
            exact = np.isin(target[:, 0], fp[:, 0])
            long_source = fp[fp[:, 1] != 0, 1]
            different.append(min_distances(long_source, target[~exact, 1]))
        sample = rng.sample(texts, min(300, len(texts)))
        edited.append(np.array([bin(simhash(t) ^ simhash(normalise(edit(t, rng)))).count("1") for t in sample]))
    different, edited = np.concatenate(different), np.concatenate(edited)
    print(f"{len(different)} (target text, source) pairs of different texts; {len(edited)} edited copies "
          f"({time.perf_counter() - start:.0f} s)")
    print(f"{'k':>3} {'different texts within k':>26} {'edited copies within k':>24}")
    for k in range(MAX_K + 1):
        print(f"{k:>3} {np.mean(different <= k):>26.5%} {np.mean(edited <= k):>24.1%}")
    print("exact normalised matches between distinct suite tasks (target, source, matches, target texts):")
    for row in sorted(exact_pairs, key=lambda r: -r[2] / r[3]):
        print(f"  {row[0]:>36} in {row[1]:<36} {row[2]:>5} / {row[3]:<5} ({row[2] / row[3]:.2%})")


if __name__ == "__main__":
    main()
