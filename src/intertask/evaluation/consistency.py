"""How consistent is a transfer matrix with itself: across seeds, and across settings (models, adaptations).

`consistency(matrix)` takes a matrix of `intertask.matrix.table` (one or more settings) and measures, per
setting and target:

* `sign_agreement`: the share of sources whose seeds all agree on the sign of the transfer (every seed
  above its baseline, or none: `positive_share` ∈ {0, 1}); cells with fewer than two seeds are left out.
  Needs `positive_share` (from baselines, or as published); NaN without it.
* `negative_share`: the share of sources whose mean relative gain is below 0 (negative transfer on average).
* `seed_spearman`: Spearman's ρ between two seeds' scores of the target's sources, the mean over seed
  pairs (`intertask.stats.seed_consistency`).
* `setting_spearman` (in `between_settings`): per target and pair of settings, ρ between the two settings'
  mean scores over seeds of the sources both have.

Every aggregate is a mean with a 95% CI over targets (the cells of one target are not independent;
`stats.target_interval`: Student-t below 15 targets, else a bootstrap resampling targets, named in
`interval`), and says how many targets and cells it rests on; `by_setting` and
`between_settings` end with the pool of all settings (`ALL`). `groups` (target → group,
e.g. TaskWeb's categories) adds the same aggregates per group, to ask which kind of target is inconsistent.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pandas as pd
from scipy import stats

from intertask.evaluation.evaluate import records
from intertask.matrix.table import CELL
from intertask.stats import seed_consistency, target_interval, target_interval_kind

ALL = "all settings"


@dataclass
class Consistency:
    """by_target: `setting, target, group, n_sources, n_seeds, sign_agreement, negative_share,
    seed_spearman, n_seed_pairs`. by_setting and by_group: `setting` or `group, metric, mean, ci_low,
    ci_high, n_targets, n_cells, interval`. between_settings: `setting_a, setting_b, spearman, ci_low,
    ci_high, n_targets, interval`. targets: one row per target over all settings, `target, group, sign_agreement,
    negative_share, seed_spearman, setting_spearman, n_settings`, least consistent (lowest seed ρ) first."""

    by_target: pd.DataFrame
    by_setting: pd.DataFrame
    by_group: pd.DataFrame
    between_settings: pd.DataFrame
    targets: pd.DataFrame

    def to_dict(self) -> dict:
        """JSON-able: every table as a list of records (NaN becomes null)."""
        return {name: records(getattr(self, name))
                for name in ("by_setting", "by_group", "between_settings", "targets", "by_target")}


def _cells(matrix: pd.DataFrame) -> pd.DataFrame:
    """One row per setting × target × source: n_seeds, mean score, agreement (1/0/NaN), negative (1/0/NaN)."""
    cells = matrix.groupby(CELL).agg(
        n_seeds=("seed", "nunique"), score=("score", "mean"),
        positive_share=("positive_share", "first"), mean_relative_gain=("mean_relative_gain", "first"),
    ).reset_index()
    share = cells["positive_share"].where(cells["n_seeds"] >= 2)
    cells["agreement"] = share.isin([0.0, 1.0]).astype(float).where(share.notna())
    cells["negative"] = (cells["mean_relative_gain"] < 0).astype(float).where(cells["mean_relative_gain"].notna())
    return cells


def _aggregate(values: pd.DataFrame, metric: str, key: str, n_boot: int, seed: int) -> list[dict]:
    """Mean of `metric` per `key` with a CI that resamples targets; `values` has `target` and `metric`."""
    rows = []
    for name, part in values.groupby(key, sort=True):
        part = part.dropna(subset=[metric])
        row = {key: name, "metric": metric, "n_targets": part["target"].nunique(), "n_cells": len(part)}
        if len(part):
            low, high = target_interval(part[metric].to_numpy(float), part["target"].to_numpy(), n_boot=n_boot,
                                        seed=seed)
            row.update(mean=float(part[metric].mean()), ci_low=low, ci_high=high,
                       interval=target_interval_kind(row["n_targets"]))
        rows.append(row)
    return rows


def _between_settings(cells: pd.DataFrame) -> pd.DataFrame:
    """Per target and pair of settings: Spearman's ρ between their mean scores of the common sources."""
    wide = cells.pivot_table(index=["target", "source"], columns="setting", values="score")
    rows = []
    for a, b in itertools.combinations(sorted(wide.columns), 2):
        for target, part in wide[[a, b]].dropna().groupby(level="target"):
            if len(part) >= 2 and part[a].nunique() > 1 and part[b].nunique() > 1:
                rows.append({"setting_a": a, "setting_b": b, "target": target,
                             "spearman": float(stats.spearmanr(part[a], part[b])[0]), "n_sources": len(part)})
    return pd.DataFrame(rows, columns=["setting_a", "setting_b", "target", "spearman", "n_sources"])


def consistency(matrix: pd.DataFrame, groups: dict[str, str] | None = None, n_boot: int = 2000,
                seed: int = 0) -> Consistency:
    """Seed and setting consistency of `matrix`; see the module docstring."""
    groups = groups or {}
    cells = _cells(matrix)
    by_target = cells.groupby(["setting", "target"]).agg(
        n_sources=("source", "nunique"), n_seeds=("n_seeds", "max"),
        sign_agreement=("agreement", "mean"), negative_share=("negative", "mean"),
    ).reset_index()
    rho = pd.concat([seed_consistency(part).assign(setting=setting)
                     for setting, part in matrix.groupby("setting", sort=True)], ignore_index=True)
    by_target = by_target.merge(rho[["setting", "target", "spearman", "n_pairs"]], on=["setting", "target"])
    by_target = by_target.rename(columns={"spearman": "seed_spearman", "n_pairs": "n_seed_pairs"})
    by_target.insert(2, "group", by_target["target"].map(lambda t: groups.get(t, "other")))

    per_cell = cells.rename(columns={"agreement": "sign_agreement", "negative": "negative_share"})
    per_cell["group"] = per_cell["target"].map(lambda t: groups.get(t, "other"))
    seeds = by_target[["setting", "group", "target", "seed_spearman"]]
    by_setting, by_group = [], []
    for metric, values in (("sign_agreement", per_cell), ("negative_share", per_cell), ("seed_spearman", seeds)):
        by_setting += _aggregate(values, metric, "setting", n_boot, seed)
        by_setting += _aggregate(values.assign(setting=ALL), metric, "setting", n_boot, seed)
        by_group += _aggregate(values, metric, "group", n_boot, seed)
    columns = ["metric", "mean", "ci_low", "ci_high", "n_targets", "n_cells", "interval"]
    by_setting = pd.DataFrame(by_setting).reindex(columns=["setting"] + columns)
    by_group = pd.DataFrame(by_group).reindex(columns=["group"] + columns)

    pairs = _between_settings(cells)
    between = []
    pooled = pairs.assign(setting_a=ALL, setting_b=ALL)
    for (a, b), part in pd.concat([pairs, pooled]).groupby(["setting_a", "setting_b"], sort=False):
        low, high = target_interval(part["spearman"].to_numpy(float), part["target"].to_numpy(), n_boot=n_boot,
                                    seed=seed)
        n_targets = part["target"].nunique()
        between.append({"setting_a": a, "setting_b": b, "spearman": float(part["spearman"].mean()),
                        "ci_low": low, "ci_high": high, "n_targets": n_targets,
                        "interval": target_interval_kind(n_targets)})
    between = pd.DataFrame(between).reindex(columns=["setting_a", "setting_b", "spearman", "ci_low", "ci_high",
                                                     "n_targets", "interval"])

    targets = by_target.groupby(["target", "group"]).agg(
        sign_agreement=("sign_agreement", "mean"), negative_share=("negative_share", "mean"),
        seed_spearman=("seed_spearman", "mean"), n_settings=("setting", "nunique")).reset_index()
    setting_rho = pairs.groupby("target")["spearman"].mean().rename("setting_spearman")
    targets = targets.merge(setting_rho, on="target", how="left").sort_values("seed_spearman", ignore_index=True)
    targets = targets[["target", "group", "sign_agreement", "negative_share", "seed_spearman", "setting_spearman",
                       "n_settings"]]
    return Consistency(by_target, by_setting, by_group, between, targets)


def target_groups(targets) -> dict[str, str]:
    """Each target's group: its TaskWeb category, else "reasoning" when the offline suite tags it so, else "other"."""
    from intertask.matrix.taskweb import category
    from intertask.tasks.suite import SUITE

    groups = {}
    for target in targets:
        group = category(target)
        if group == "other" and target in SUITE and "reasoning" in SUITE[target].tags:
            group = "reasoning"
        groups[target] = group
    return groups
