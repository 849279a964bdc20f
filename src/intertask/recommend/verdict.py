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
source's expected gain is positive (the history says transfer to such targets tends to hurt); a
source shares texts with the target (`recommend.leakage`: its rank and gain may be inflated).

Advice, one of `ADVICE` (what `intertask.recommend.calibration.verdict_table` checks against the
top source's measured gain): `target alone` when the history says no source helps similar
targets (best expected gain ≤ 0), whatever the criteria; else `transfer` when every criterion
passes, or all but one with the cheap signal among them; otherwise `weak evidence` (verify first). Methods that agree no better
than chance no longer advise training on the target alone: on the shipped library's 6 history
targets, held out, that advice was right 1 time in 3, the base rate of a losing top choice
(docs/findings.md §1h).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from intertask.formatting import fmt_number

STABLE_MIN = 0.5
SIMILAR_MIN = 0.5
NEAR_CHANCE = 5.0
TRANSFER, WEAK, TARGET_ALONE = "transfer", "weak evidence", "target alone"
ADVICE = (TRANSFER, WEAK, TARGET_ALONE)


@dataclass(frozen=True)
class Evidence:
    """What the verdict weighs; None where a number could not be measured.

    `agreement`/`agreement_random`: the methods' observed and the random 95th-percentile top-`k`
    overlap; `stability`: the seed Spearman of the prompt methods; `similarity`: the top source's
    text-embedding cosine; `target_score`/`chance_score`: the target's short-run validation score
    and chance (0-100); `top_expected_gain`/`noise`: the top source's expected gain and the seed
    standard deviation (points); `best_expected_gain`: the largest expected gain of any source
    (None without history); `n_seeds`: the number of target seeds; `learned_seeds`: how many of
    their short runs cleared the floor of a constant prediction (None when not checked);
    `ranked_by`: which rule ordered the sources and why (`rule.order_scores`).
    """

    top_source: str
    agreement: float | None = None
    agreement_random: float | None = None
    stability: float | None = None
    similarity: float | None = None
    reasoning_tag: bool = False
    target_score: float | None = None
    chance_score: float | None = None
    top_expected_gain: float | None = None
    noise: float | None = None
    history_has_target: bool = False
    best_expected_gain: float | None = None
    k: int = 3
    n_seeds: int = 1
    learned_seeds: int | None = None
    leaks: tuple[str, ...] = ()  # one description per library source that shares texts with the target
    ranked_by: str = ""


@dataclass(frozen=True)
class Criterion:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Verdict:
    """A headline, the criteria (each passed or not, with the numbers behind it), warnings, the
    advice in one word (`ADVICE`) and which rule ordered the sources and why."""

    headline: str
    criteria: tuple[Criterion, ...]
    warnings: tuple[str, ...]
    advice: str = WEAK
    ranked_by: str = ""

    def to_dict(self) -> dict:
        """`{headline, advice, ranked_by, criteria: [{name, passed, detail}], warnings: [...]}` (JSON-ready)."""
        return {"headline": self.headline, "advice": self.advice, "ranked_by": self.ranked_by,
                "criteria": [asdict(c) for c in self.criteria], "warnings": list(self.warnings)}


def _criteria(e: Evidence) -> tuple[Criterion, ...]:
    signal = e.agreement is not None and e.agreement_random is not None and e.agreement > e.agreement_random
    if e.stability is not None:
        stability = (f"prompt rankings agree between target seeds: Spearman {fmt_number(e.stability, '.2f')} "
                     f"(needs ≥ {STABLE_MIN})")
    elif e.n_seeds < 2:
        stability = "only one target seed; run 3 target seeds to measure stability"
    else:
        stability = "no prompt-based method among the methods; stability is measured on them"
    return (
        Criterion("cheap signal", bool(signal),
                  f"methods' top-{e.k} overlap {fmt_number(e.agreement, '.2f')} vs "
                  f"{fmt_number(e.agreement_random, '.2f')} for random rankings (95th percentile)"),
        Criterion("stable across seeds", e.stability is not None and e.stability >= STABLE_MIN, stability),
        Criterion("similar source", e.similarity is not None and e.similarity >= SIMILAR_MIN,
                  f"text-embedding cosine of '{e.top_source}' to the target {fmt_number(e.similarity, '.2f')} "
                  f"(needs ≥ {SIMILAR_MIN})"),
    )


def _warnings(e: Evidence) -> tuple[str, ...]:
    found = []
    near_chance = (e.target_score is not None and e.chance_score is not None
                   and e.target_score <= e.chance_score + NEAR_CHANCE)
    if e.reasoning_tag or near_chance:
        why = "it is tagged 'reasoning'" if e.reasoning_tag else (
            f"its short-run validation score {e.target_score:.1f} is near chance ({e.chance_score:.1f})")
        found.append(f"the target looks reasoning-like ({why}); task selection was found "
                     "unreliable on such targets, verify the top 3 sources with real transfers")
    if e.learned_seeds is not None and 0 < e.learned_seeds < e.n_seeds:
        found.append(f"only {e.learned_seeds} of {e.n_seeds} target seeds cleared the floor of a constant "
                     "prediction in the short runs; the prompt-based scores rest on those seeds' prompts")
    gain = e.top_expected_gain
    if gain is not None and e.noise is not None and not math.isnan(gain) and abs(gain) <= e.noise:
        found.append(f"the top expected gain ({gain:+.1f} points) is within the seed "
                     f"noise (±{e.noise:.1f}); the benefit may not be real")
    if _history_says_no(e):
        found.append(f"no source is expected to help: past transfers to similar targets lost on average "
                     f"(best expected gain {e.best_expected_gain:+.1f} points); training on the target alone "
                     "is the safe default")
    for leak in e.leaks:
        found.append(f"leak: {leak}; that source's prompt was trained on the target's own texts, so its "
                     "rank and expected gain may be inflated")
    if e.history_has_target:
        found.append("the library's history already holds measured transfers to a task of this "
                     "name; expected gains lean on those measurements")
    return tuple(found)


def _history_says_no(e: Evidence) -> bool:
    return e.best_expected_gain is not None and not math.isnan(e.best_expected_gain) and e.best_expected_gain <= 0


def make_verdict(evidence: Evidence) -> Verdict:
    """The verdict on `evidence`: the criteria and warnings of the module docstring, and a
    headline that says how far to trust the top source."""
    criteria = _criteria(evidence)
    top = evidence.top_source
    signal = criteria[0].passed
    passed = sum(c.passed for c in criteria)
    if evidence.learned_seeds == 0:
        advice = WEAK
        headline = (f"The target did not learn in its short runs: no seed beat a constant prediction, so the "
                    f"prompt-based methods have nothing to go on and are left out. '{top}' ranks first on the "
                    "other methods; train longer (more budget steps) or label more examples, then ask again.")
    elif _history_says_no(evidence):
        advice = TARGET_ALONE
        headline = (f"Train on the target alone: past transfers to similar targets lost with every source (best "
                    f"expected gain {evidence.best_expected_gain:+.1f} points); '{top}' ranks first if you "
                    "verify the top 3 anyway.")
    elif passed == len(criteria):
        advice = TRANSFER
        headline = f"Use '{top}': the methods agree, the choice is stable, and it resembles your data."
    elif signal and passed == len(criteria) - 1:
        advice = TRANSFER
        headline = f"Leaning '{top}': the methods agree, but not every check passed; confirm by verifying the top 3."
    elif signal:
        advice = WEAK
        headline = f"Weak evidence for '{top}'; confirm by verifying the top 3 before spending compute."
    else:
        advice = WEAK
        headline = (f"No reliable cheap signal: the methods agree no better than chance. '{top}' "
                    "ranks first; confirm by verifying the top 3 before spending compute.")
    return Verdict(headline, criteria, _warnings(evidence), advice=advice, ranked_by=evidence.ranked_by)
