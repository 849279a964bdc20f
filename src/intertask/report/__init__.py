"""Figures and self-contained reports of a transfer study and of a recommendation.

- `write_study_report(out_dir, matrix, evaluation_cases, evaluation_summary, tags, ...)` → `report.html`
  with embedded PNGs, each PNG also saved beside it (`intertask.report.html`).
- `write_recommendation_report(path, target_name, ranking, verdict, verify=None)` → one HTML file,
  or Markdown with PNGs beside it when `path` ends in `.md`.
- `build_study_report(store_path, out_dir, k)` reads a study store and writes its report (the
  `intertask report` command).
- The figures themselves: `intertask.report.figures` (study), `intertask.report.recommend_figures`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from intertask.errors import IntertaskError
from intertask.report.html import write_recommendation_report, write_study_report
from intertask.study.export import read_study

__all__ = ["build_study_report", "write_recommendation_report", "write_study_report"]


def _snapshot_curve(evaluation) -> pd.DataFrame | None:
    """`method, target_steps, metric, mean, ci_low, ci_high`: `quality_by_steps` of the evaluation
    for NDCG and Regret@k, keeping the methods evaluated at two or more target training steps.
    None when there is nothing to draw."""
    from intertask.evaluation.compare import quality_by_steps  # here: evaluation loads torch

    frames = [
        quality_by_steps(evaluation, metric).rename(columns={"family": "method"}).assign(metric=metric)
        for metric in ("ndcg", "regret_at_k")
    ]
    curve = pd.concat(frames, ignore_index=True)
    steps = curve.groupby("method")["target_steps"].nunique()
    curve = curve[curve["method"].isin(steps[steps >= 2].index)]
    return curve if not curve.empty else None


def build_study_report(store_path, out_dir, k: int = 3, study: str | None = None) -> Path:
    """Evaluate the study in the store at `store_path` (Regret@k with `k`, the top-k score with the
    default top-2) and write its report to `out_dir/report.html`; return that path.

    Reads the study once (`intertask.study.export.read_study`): its transfer matrix is the ground
    truth, and `evaluate(view.matrix, predictions_from_store(view), k=k)` evaluates the same view;
    the targets' tags are those of their tasks.
    """
    if k < 1:
        raise IntertaskError(f"k must be at least 1, got {k}")
    from intertask.evaluation import evaluate
    from intertask.evaluation.from_store import predictions_from_store  # here: evaluation loads torch

    view = read_study(store_path, study)
    evaluation = evaluate(view.matrix, predictions_from_store(view, progress=True), k=k)
    return write_study_report(
        out_dir,
        view.matrix,
        evaluation.cases,
        evaluation.summary,
        tags=evaluation.tags,
        consistency=evaluation.consistency,
        snapshot_curve=_snapshot_curve(evaluation),
        title=f"intertask study report: {Path(store_path).name}",
        k=k,
    )
