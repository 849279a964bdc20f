"""A plain verdict on a recommendation: three criteria, a headline, and warnings.

Criteria (each `{name, passed, detail}`):

1. **cheap signal** — the selection methods agree on the top sources beyond chance: the mean
   pairwise top-k overlap (k = 3, fewer for small libraries) of the methods' rankings exceeds the 95th percentile of the same
   statistic for as many uniformly random rankings (`ranking.random_top_k_agreement`).
2. **stable across seeds** — the prompt methods' rankings agree between target seeds: mean
   pairwise Spearman ≥ `STABLE_MIN` (0.5). With a single seed this cannot pass.
3. **similar source** — the top source resembles the target: cosine of their text-embedding
   centroids ≥ `SIMILAR_MIN` (0.5).

Warnings: the target looks reasoning-like (tag `reasoning`, or its short-run validation score is
within `NEAR_CHANCE` (5) points of chance, where the paper found selection unreliable); the top
source's expected gain is within the seed noise (|gain| ≤ the seed standard deviation); no
source's expected gain is positive (the history says transfer to such targets tends to hurt).
"""

from __future__ import annotations

import math

STABLE_MIN = 0.5
SIMILAR_MIN = 0.5
NEAR_CHANCE = 5.0


def _fmt(value, digits: int = 2) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def make_verdict(
    top_source: str,
    agreement: float | None,
    agreement_random: float | None,
    stability: float | None,
    similarity: float | None,
    reasoning_tag: bool = False,
    target_score: float | None = None,
    chance_score: float | None = None,
    top_expected_gain: float | None = None,
    noise: float | None = None,
    history_has_target: bool = False,
    best_expected_gain: float | None = None,
    k: int = 3,
    n_seeds: int = 1,
) -> dict:
    """The verdict dict `{headline, criteria: [{name, passed, detail}], warnings: [..]}`.

    `agreement`/`agreement_random` are the observed and the random 95th-percentile top-`k` overlap,
    `stability` the seed Spearman, `similarity` the top source's text-embedding cosine,
    `target_score`/`chance_score` the target's short-run validation score and chance (0-100),
    `top_expected_gain`/`noise` the top source's expected gain and the seed standard deviation,
    `best_expected_gain` the largest expected gain of any source (None without history),
    `k` the top-k of the agreement, `n_seeds` the number of target seeds.
    """
    signal = agreement is not None and agreement_random is not None and agreement > agreement_random
    stable = stability is not None and stability >= STABLE_MIN
    similar = similarity is not None and similarity >= SIMILAR_MIN
    criteria = [
        {"name": "cheap signal", "passed": bool(signal),
         "detail": f"methods' top-{k} overlap {_fmt(agreement)} vs {_fmt(agreement_random)} "
                   "for random rankings (95th percentile)"},
        {"name": "stable across seeds", "passed": bool(stable),
         "detail": (f"prompt rankings agree between target seeds: Spearman {_fmt(stability)} "
                    f"(needs ≥ {STABLE_MIN})") if stability is not None
         else ("only one target seed; run with --seeds 3 to measure stability" if n_seeds < 2
               else "no prompt-based method among --methods; stability is measured on them")},
        {"name": "similar source", "passed": bool(similar),
         "detail": f"text-embedding cosine of '{top_source}' to the target {_fmt(similarity)} "
                   f"(needs ≥ {SIMILAR_MIN})"},
    ]
    warnings = []
    near_chance = (target_score is not None and chance_score is not None
                   and target_score <= chance_score + NEAR_CHANCE)
    if reasoning_tag or near_chance:
        why = "it is tagged 'reasoning'" if reasoning_tag else (
            f"its short-run validation score {target_score:.1f} is near chance ({chance_score:.1f})")
        warnings.append(f"the target looks reasoning-like ({why}); task selection was found "
                        "unreliable on such targets, verify with --verify 3")
    if top_expected_gain is not None and noise is not None and not math.isnan(top_expected_gain) \
            and abs(top_expected_gain) <= noise:
        warnings.append(f"the top expected gain ({top_expected_gain:+.1f} points) is within the seed "
                        f"noise (±{noise:.1f}); the benefit may not be real")
    if best_expected_gain is not None and not math.isnan(best_expected_gain) and best_expected_gain <= 0:
        warnings.append(f"no source is expected to help: past transfers to similar targets lost on average "
                        f"(best expected gain {best_expected_gain:+.1f} points); training on the target alone "
                        "is the safe default")
    if history_has_target:
        warnings.append("the library's history already holds measured transfers to a task of this "
                        "name; expected gains lean on those measurements")
    passed = sum(c["passed"] for c in criteria)
    if passed == 3:
        headline = f"Use '{top_source}': the methods agree, the choice is stable, and it resembles your data."
    elif signal and passed == 2:
        headline = (f"Leaning '{top_source}': the methods agree, but not every check passed; "
                    "confirm with --verify 3.")
    elif signal:
        headline = f"Weak evidence for '{top_source}'; confirm with --verify 3 before spending compute."
    else:
        headline = (f"No reliable cheap signal: the methods agree no better than chance. '{top_source}' "
                    "ranks first, but run --verify 3 (or train on the target alone).")
    return {"headline": headline, "criteria": criteria, "warnings": warnings}
