"""How good is `recommend` on targets it never saw: the tables of docs/findings.md §1h.

    python benchmarks/recommend_quality.py [--library DIR] [--runs-file FILE] [--kind KIND]

Step 1 (expensive, minutes of CPU per historical target, done once): `recommend`'s own short
target runs and selector scores on every historical target of the library, each against the
library's other sources (`recommend.library_cases.collect_target_runs`), kept in `--runs-file`
(default benchmarks/results/library_target_runs.json, the file `intertask evaluate --library DIR
--runs-file FILE` and `intertask library add-combination DIR --runs-file FILE` keep); a later call
reuses it, a killed one resumes. LOTO scores the methods every history target can use; LogME and
ESM-LogME score no multiple-choice target, so `--kind classification` (with its own runs file) is the
table that includes them.

Step 2 (seconds): from those runs and the library's history, printed as Markdown, every
interval resampling targets and every count beside it —

1. nested leave-one-target-out (`recommend.held_out`): `recommend` as a user runs it (its rule
   chosen on the other targets only) against every candidate rule under plain leave-one-target-out,
   every selector alone and random: NDCG, Regret@3, top-1 gain over no transfer and over a random
   source; the rule each held-out target got; recommend − each member, paired on the same cases;
2. the top choice: per target, is it the best source or within one baseline seed SD of it;
3. calibration (`recommend.calibration`): reliability of the printed P(negative), Brier score
   against the base rate, error of the expected gain against the other targets' plain mean;
4. verdicts: per target the advice, the top source's gain per seed with its t-interval, right or not;
5. reasoning-like or multiple-choice targets (`history_tables.REASONING_TAGS`, the grouping of §1i) against
   the rest: NDCG of `recommend` and every member.

The same script reads any library with a history: more history targets only narrow the intervals.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from intertask.evaluation import evaluate, paired_table
from intertask.recommend import calibration
from intertask.recommend.library import default_library_dir, load_library
from intertask.recommend.loto import library_predictions, library_target_runs

from history_tables import REASONING_TAGS

DEFAULT_RUNS_FILE = Path(__file__).parent / "results" / "library_target_runs.json"


def target_runs(library_dir, runs_file: Path, device: str = "cpu", kind: str | None = None):
    """`(library, history, tasks, collected)`; short runs already in `runs_file` are reused. `kind`
    (e.g. "classification") keeps the history targets of that task kind only: LOTO scores the methods
    every target can use, so LogME and ESM-LogME (no multiple-choice targets) need that subset."""
    from intertask.progress import progress_bar
    from intertask.tasks.registry import get_task

    library = load_library(library_dir or default_library_dir())
    if kind:
        targets = [t for t in library.history.targets if get_task(t, progress=False).kind.value == kind]
        library.history = library.history.select(targets=targets)
    with progress_bar(True) as bar:
        return (library, *library_target_runs(library, device=device, progress=bar, runs_file=runs_file))


def _ci(mean, low, high, spec=".3f") -> str:
    if not np.isfinite(mean):
        return "n/a"
    return f"{mean:{spec}} [{low:{spec.lstrip('+')}}, {high:{spec.lstrip('+')}}]"


def nested_table(evaluation) -> str:
    summary = evaluation.summary.set_index(["method", "metric"])
    first = ["recommend", "recommend_mean_rank", "recommend_learned", "expected_gain"]
    methods = list(dict.fromkeys(evaluation.summary["method"]))
    methods = [m for m in first if m in methods] + [m for m in methods if m not in first]
    k = evaluation.config["k"]
    lines = [f"| method | NDCG ↑ | Regret@{k} % ↓ | top-1 gain (points) | top-1 gain vs random | cases (targets) |",
             "|---|---|---|---|---|---|"]
    for method in methods:
        cells = []
        for metric, spec in (("ndcg", ".3f"), ("regret_at_k", ".2f"), ("top1_gain", "+.2f"),
                             ("top1_gain_over_random", "+.2f")):
            row = summary.loc[(method, metric)]
            cells.append(_ci(row["mean"], row["ci_low"], row["ci_high"], spec))
        row = summary.loc[(method, "ndcg")]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {int(row['n'])} ({int(row['n_targets'])}) |")
    return "\n".join(lines)


def paired_lines(evaluation) -> str:
    lines = ["| recommend − … | NDCG diff [95% CI] | win rate | Regret@3 diff [95% CI] (negative = recommend better) | win rate |",
             "|---|---|---|---|---|"]
    tables = {metric: paired_table(evaluation, metric).set_index(["method_a", "method_b"])
              for metric in ("ndcg", "regret_at_k")}
    for other in dict.fromkeys(evaluation.cases["method"]):
        if other == "recommend":
            continue
        cells = []
        for metric, spec in (("ndcg", "+.3f"), ("regret_at_k", "+.2f")):
            row = tables[metric].loc[("recommend", other)]
            verdict = "" if row["ci_low"] > 0 or row["ci_high"] < 0 else " (no difference)"
            cells += [_ci(row["mean_diff"], row["ci_low"], row["ci_high"], spec) + verdict, f"{row['win_rate']:.2f}"]
        lines.append(f"| {other} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reasoning_table(evaluation) -> str:
    """NDCG per method on the reasoning-like targets and on the rest, each with its interval over targets."""
    by_tag = evaluation.by_tag[evaluation.by_tag["metric"] == "ndcg"].set_index(["group", "method"])
    groups = [g for g in (evaluation.config["tag"], "other") if g in by_tag.index.get_level_values("group")]
    lines = ["| method | " + " | ".join(f"NDCG on {g} targets" for g in groups) + " |", "|---" * (len(groups) + 1) + "|"]
    for method in dict.fromkeys(evaluation.cases["method"]):
        cells = []
        for group in groups:
            row = by_tag.loc[(group, method)]
            cells.append(_ci(row["mean"], row["ci_low"], row["ci_high"]) + f" ({int(row['n_targets'])})")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def frame_markdown(frame, formats: dict) -> str:
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    for row in frame.itertuples(index=False):
        cells = [format(v, formats[c]) if c in formats and isinstance(v, (int, float)) and np.isfinite(v) else str(v)
                 for c, v in zip(frame.columns, row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(library, history, tasks, collected, n_boot: int = 2000) -> str:
    built = library_predictions(library, history, tasks, collected)
    result = built.held_out
    reasoning = {t: ("reasoning-like",) if set(tags) & REASONING_TAGS else tuple(tags)
                 for t, tags in built.predictions.tags.items()}
    evaluation = evaluate(built.truth, replace(built.predictions, tags=reasoning), n_boot=n_boot,
                          tag="reasoning-like")
    n = len(collected)
    n_cases = int((evaluation.cases["method"] == "recommend").sum())
    out = [f"## {n} history targets of {library.path.name}, {n_cases} "
           "cases (target × seed)", "", "### 1. Nested leave-one-target-out", "", nested_table(evaluation), "",
           "Rule chosen with each target held out (inner folds only): "
           + ", ".join(f"{t}: {r}" for t, r in evaluation.config["held_out_rules"].items()), "",
           f"Rule on all {n} targets (what the library stores): {result.final_rule['rule']} "
           f"(fallback {result.final_rule['fallback']}); {result.final_rule['reason']}", "",
           paired_lines(evaluation), ""]
    top = calibration.top_choice_table(result)
    out += ["### 2. recommend's top choice against the best source", "",
            frame_markdown(top, {"top_gain": "+.2f", "best_gain": "+.2f", "baseline_sd": ".2f"}), "",
            f"top choice is the best source or within one baseline seed SD of it: {int(top['within'].sum())} of "
            f"{len(top)} targets ({top['within'].mean():.0%}); the best source itself: "
            f"{int((top['top_source'] == top['best_source']).sum())} of {len(top)}", ""]
    rows = calibration.risk_rows(result, history)
    out += ["### 3. Calibration of the printed risk", "",
            frame_markdown(calibration.reliability_table(rows), {"predicted": ".2f", "observed": ".2f"}), "",
            f"({len(rows)} transfers = target × source × seed, {rows['target'].nunique()} targets)", "",
            frame_markdown(calibration.brier_table(rows, n_boot), {"mean": "+.3f", "ci_low": "+.3f", "ci_high": "+.3f"}),
            ""]
    verdicts = calibration.verdict_table(result).drop(columns="headline")
    out += ["### 4. Verdicts", "",
            frame_markdown(verdicts, {"mean_gain": "+.2f", "ci_low": "+.2f", "ci_high": "+.2f"}), "",
            f"right: {int(verdicts['right'].sum())} of {len(verdicts)}; advice given: "
            + ", ".join(f"{a} {c}" for a, c in verdicts["advice"].value_counts().items())
            + "; outcomes: " + ", ".join(f"{a} {c}" for a, c in verdicts["outcome"].value_counts().items())
            + f"; mean top-1 gain > 0 on {int((verdicts['mean_gain'] > 0).sum())} of {len(verdicts)}", ""]
    out += ["### 5. Reasoning-like or multiple-choice targets against the rest", "", reasoning_table(evaluation), "",
            "(targets per cell in parentheses; the intervals resample targets)", ""]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", default=None, help="library directory (default: the shipped one)")
    parser.add_argument("--runs-file", type=Path, default=DEFAULT_RUNS_FILE)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--kind", choices=["classification", "multiple_choice"], default=None,
                        help="only the history targets of this task kind (use another --runs-file)")
    args = parser.parse_args()
    print(report(*target_runs(args.library, args.runs_file, args.device, args.kind)))


if __name__ == "__main__":
    main()
