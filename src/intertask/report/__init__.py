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

__all__ = ["build_study_report", "write_recommendation_report", "write_study_report"]


def _part(result, name: str):
    """Field `name` of an evaluation result, whether it is a mapping or an object; None if absent."""
    if isinstance(result, dict):
        return result.get(name)
    return getattr(result, name, None)


def _target_tags(targets) -> dict[str, tuple[str, ...]]:
    """Tags of the suite's and the toy tasks among `targets` (read from their specs, no data
    loaded); other targets get none."""
    from intertask.tasks.suite import SUITE
    from intertask.tasks.toy import TOY_TASKS, toy_task

    tags = {}
    for name in sorted({str(t) for t in targets}):
        if name in SUITE:
            tags[name] = tuple(SUITE[name].tags)
        elif name in TOY_TASKS:
            tags[name] = tuple(toy_task(name).tags)
    return tags


def _snapshot_curve(evaluation) -> pd.DataFrame | None:
    """`method, target_steps, metric, mean, ci_low, ci_high` from the evaluation: its own
    `snapshot_curve` if it has one, else `quality_by_steps` for NDCG and Regret@k, keeping the
    methods evaluated at two or more target training steps. None when there is nothing to draw."""
    curve = _part(evaluation, "snapshot_curve")
    if curve is not None:
        return curve
    from intertask.evaluation.evaluate import quality_by_steps

    frames = [
        quality_by_steps(evaluation, metric).rename(columns={"family": "method"}).assign(metric=metric)
        for metric in ("ndcg", "regret_at_k")
    ]
    curve = pd.concat(frames, ignore_index=True)
    steps = curve.groupby("method")["target_steps"].nunique()
    curve = curve[curve["method"].isin(steps[steps >= 2].index)]
    return curve if not curve.empty else None


def build_study_report(store_path, out_dir, k: int = 3, study: str | None = None) -> Path:
    """Evaluate the study in the store at `store_path` (Regret@k and top-k with `k`) and write its
    report to `out_dir/report.html`; return that path.

    Reads the ground truth with `intertask.study.export.transfer_matrix(store)` and the evaluation
    with `intertask.evaluation.from_store.evaluate_store(store, k=k)`, whose result carries `cases`,
    `summary`, `consistency` and, when available, `snapshot_curve` and the targets' `tags`.
    """
    store_path = Path(store_path)
    if k < 1:
        raise IntertaskError(f"k must be at least 1, got {k}")
    if not store_path.exists():
        raise IntertaskError(
            f"no study store at {store_path}; run `intertask study run CONFIG --store {store_path}` first"
        )
    from intertask.evaluation.from_store import evaluate_store
    from intertask.study.export import transfer_matrix
    from intertask.study.store import Store

    store = Store(store_path)
    matrix = transfer_matrix(store, study)
    evaluation = evaluate_store(store, k=k, study=study)
    return write_study_report(
        out_dir,
        matrix,
        _part(evaluation, "cases"),
        _part(evaluation, "summary"),
        tags=_part(evaluation, "tags") or _target_tags(matrix["target"]),
        consistency=_part(evaluation, "consistency"),
        snapshot_curve=_snapshot_curve(evaluation),
        title=f"intertask study report: {store_path.name}",
        k=k,
    )
