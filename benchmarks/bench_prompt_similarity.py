"""Time scoring a prompt library against one target: vectorised `PromptIndex` vs a per-source loop.

Usage: python benchmarks/bench_prompt_similarity.py [--sources 10000] [--tokens 100] [--hidden 768]
                                                   [--naive-sources 1000] [--methods ...]

The library is random float32 `[S, P, H]` (≈ 3 GB for the defaults), normalised once (the
`fit` step, timed apart); then each method scores all S sources against one target. The naive
baseline loops over `--naive-sources` sources in Python, normalising and comparing one pair at a
time with numpy, and is scaled linearly to S (printed as such). Target: max_pairwise over 10,000
prompts of 100 × 768 in under a second.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from intertask.selection.prompt_similarity import METHODS, PromptIndex


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(n > 0, n, 1)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    d = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / d) if d > 0 else 0.0


def naive(source: np.ndarray, target: np.ndarray, method: str) -> float:
    """One pair at a time, the obvious way (the loop a script would write)."""
    s, t = _unit(source), _unit(target)
    if method == "feature_mean":
        return _cos(s.mean(0), t.mean(0))
    if method == "flatten":
        return _cos(s.ravel(), t.ravel())
    if method == "unigram":
        return _cos(s.mean(1), t.mean(1))
    if method == "bigram":
        return float(np.mean([_cos(np.r_[s[i], s[i + 1]], np.r_[t[i], t[i + 1]])
                              for i in range(len(s) - 1)]))
    return float((s @ t.T).max(axis=1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--naive-sources", type=int, default=1000)
    parser.add_argument("--chunk-size", type=int, default=128)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    s, p, h = args.sources, args.tokens, args.hidden
    library = np.empty((s, p, h), np.float32)
    for start in range(0, s, 500):  # fill in slices to keep the float64 scratch small
        library[start:start + 500] = rng.standard_normal((min(500, s - start), p, h), np.float32)
    target = rng.standard_normal((p, h)).astype(np.float32)
    naive_n = min(args.naive_sources, s)
    naive_part = library[:naive_n].copy()
    print(f"library: {s} prompts of {p} x {h} float32 ({library.nbytes / 2**30:.2f} GiB)")

    start = time.perf_counter()
    index = PromptIndex(library, chunk_size=args.chunk_size, copy=False)
    print(f"fit (token normalisation, once per library): {time.perf_counter() - start:.2f} s")

    print(f"{'method':<14}{'vectorised s':>14}{'naive s (scaled)':>18}{'speed-up':>10}  max |diff|")
    for method in args.methods:
        index.scores(target, method)  # warm caches (feature_mean, unigram) as a reused fit would
        start = time.perf_counter()
        fast = index.scores(target, method)
        fast_s = time.perf_counter() - start
        start = time.perf_counter()
        slow = np.array([naive(naive_part[i], target, method) for i in range(naive_n)])
        slow_s = (time.perf_counter() - start) * s / naive_n
        diff = float(np.max(np.abs(fast[:naive_n] - slow)))
        print(f"{method:<14}{fast_s:>14.3f}{slow_s:>18.2f}{slow_s / fast_s:>9.0f}x  {diff:.1e}")
    print(f"(naive timed on {naive_n} sources and scaled linearly to {s})")


if __name__ == "__main__":
    main()
