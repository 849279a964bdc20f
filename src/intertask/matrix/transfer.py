"""`TransferMatrix`: the ground truth of task selection, one typed object wherever it comes from.

A frozen dataclass around one long frame of `intertask.matrix.table.COLUMNS` (the schema and its checks
live there), keyed by `(setting, target, source, source_seed, seed)`. Made by

* `from_study(view)`: a study's finished transfers, with their baselines, floors and standard errors;
* `read(path)` / `write(path)`: `.csv`, `.parquet`, `.json` (a list of row objects) or `.jsonl`, by suffix,
  the same rule both ways, so what `write` wrote `read` reads back as the same matrix;
* `from_history(rows)` / `to_history()`: a library's history (a list of row objects, `history.json`);
* `from_taskweb(clone)`: TaskWeb's published transfers (`intertask.matrix.taskweb`);
* `from_frame(frame)`: any long table with the `REQUIRED` columns.

Views (each returns a new matrix; nothing is filled in or changed): `select(setting, targets)`,
`one_source_seed()`, `learned_only()` (the floor rule, here and nowhere else) and `holes()`.

    >>> m = TransferMatrix.from_frame(pd.DataFrame({"target": ["t", "t"], "source": ["a", "b"],
    ...     "seed": [0, 0], "score": [60.0, 40.0], "baseline": [50.0, 50.0]}))
    >>> m.frame["gain"].tolist(), len(m), m.targets
    ([10.0, -10.0], 2, ['t'])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from intertask.errors import IntertaskError, did_you_mean
from intertask.matrix import table as schema
from intertask.paths import write_table


@dataclass(frozen=True)
class TransferMatrix:
    """A checked transfer matrix: `frame` has exactly `schema.COLUMNS`, one row per `schema.KEY`. Build one
    with an adapter (which checks); the constructor itself takes an already checked frame (the views)."""

    frame: pd.DataFrame

    # ---- adapters -------------------------------------------------------------------------
    @classmethod
    def from_frame(cls, frame: pd.DataFrame, where: str = "table") -> TransferMatrix:
        """Check a long table (`schema.from_long_table`); `where` names it in error messages."""
        return cls(schema.from_long_table(frame, where))

    @classmethod
    def empty(cls) -> TransferMatrix:
        """A matrix without rows (a study with no finished transfer, a library without history)."""
        return cls(pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in schema.COLUMNS}))

    @classmethod
    def read(cls, path) -> TransferMatrix:
        """The checked matrix of a `.csv`, `.parquet`, `.json` or `.jsonl` file."""
        return cls.from_frame(schema.read_table(path), where=str(path))

    def write(self, out, what: str = "out") -> Path:
        """Write to `out` in the format of its suffix, through a temporary file: complete or untouched (`what`:
        the parameter that named `out`, in errors)."""
        return write_table(self.frame, Path(out), schema.file_format(Path(out), what), what)

    @classmethod
    def from_study(cls, view) -> TransferMatrix:
        """The finished transfers of a study (`intertask.study.export.StudyView`): each transfer run with
        the baseline of its target and seed, its floor, test size and binomial standard error."""
        from intertask.tasks.metrics import binomial_se, learned

        runs = view.runs
        if runs.empty:
            return cls.empty()
        runs = runs[runs["finished"]]
        floors = {r.run_id: run_floor(r.metrics_json) for r in runs.itertuples()}
        baselines = {(r.task, r.seed): (r.test_score, floors[r.run_id][0])
                     for r in runs[runs["kind"] == "baseline"].itertuples()}
        rows = []
        for r in runs[runs["kind"] == "transfer"].itertuples():
            baseline, baseline_floor = baselines.get((r.task, r.seed), (math.nan, math.nan))
            floor, n_test = floors[r.run_id]
            rows.append({"target": r.task, "source": r.source_task, "source_seed": int(r.source_seed),
                         "seed": int(r.seed), "score": float(r.test_score), "baseline": baseline, "floor": floor,
                         "n_test": n_test, "score_se": binomial_se(r.test_score, n_test),
                         "learned": learned(r.test_score, floor), "baseline_learned": learned(baseline, baseline_floor)})
        return cls.from_frame(pd.DataFrame(rows), where=f"study {view.name!r}") if rows else cls.empty()

    @classmethod
    def from_history(cls, rows: list[dict], where: str = "history") -> TransferMatrix:
        """A library's history: a list of row objects (`history.json`), checked like any matrix."""
        return cls.from_frame(pd.DataFrame(rows), where) if rows else cls.empty()

    def to_history(self) -> list[dict]:
        """The rows as plain objects for `history.json` (`from_history` reads them back); unknown values
        (NaN, `<NA>`) and the columns `from_frame` recomputes are left out of each row."""
        derived = ("gain", "relative_gain", "mean_relative_gain", "positive_share")
        return [{k: _plain(v) for k, v in row.items() if k not in derived and not _unknown(v)}
                for row in self.frame.to_dict(orient="records")]

    @classmethod
    def from_taskweb(cls, clone) -> TransferMatrix:
        """TaskWeb's published transfers from a local clone (`intertask.matrix.taskweb.read_taskweb`)."""
        from intertask.matrix.taskweb import read_taskweb

        return cls(read_taskweb(clone))

    # ---- views ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.frame)

    @property
    def settings(self) -> list[str]:
        return sorted(self.frame["setting"].unique())

    @property
    def targets(self) -> list[str]:
        return sorted(self.frame["target"].unique())

    @property
    def sources(self) -> list[str]:
        return sorted(self.frame["source"].unique())

    def select(self, setting: str | None = None, targets=None, seeds=None) -> TransferMatrix:
        """The rows of one `setting` (needed when there are several) and, if given, of `targets` and
        target `seeds` only."""
        settings = self.settings
        if setting is None and len(settings) > 1:
            raise IntertaskError(f"setting is needed: the matrix has {len(settings)} settings ({', '.join(settings)}); "
                                 "choose one", parameter="setting")
        setting = settings[0] if setting is None else setting
        if setting not in settings:
            raise IntertaskError(f"setting {setting!r} is not in the matrix{did_you_mean(setting, settings)}; it has "
                                 f"{', '.join(settings)}", parameter="setting")
        frame = self.frame[self.frame["setting"] == setting]
        where = "the matrix" if len(settings) == 1 else f"setting {setting!r}"
        for column, wanted in (("targets", targets), ("seeds", seeds)):
            if wanted is None:
                continue
            wanted = [str(v) for v in wanted] if column == "targets" else sorted({int(v) for v in wanted})
            have = frame[column[:-1]].unique().tolist()
            unknown = [v for v in wanted if v not in have]
            if not wanted:
                raise IntertaskError(f"{column} are empty; name at least one, or leave them out for all",
                                     parameter=column)
            if unknown:
                raise IntertaskError(f"{column} name {unknown[0]!r}, which {where} does not have"
                                     f"{did_you_mean(str(unknown[0]), map(str, have))}; it has {sorted(have)}",
                                     parameter=column)
            frame = frame[frame[column[:-1]].isin(wanted)]
        return TransferMatrix(frame.reset_index(drop=True))

    def one_source_seed(self) -> TransferMatrix:
        """One source prompt per (setting, target, source): the rows of its lowest source seed (a study with
        `transfer_source = "each_seed"` transfers from every seed of a source); rows that do not say their
        source seed (`<NA>`, e.g. a library history built from a study) are one prompt already and stay."""
        seeds = self.frame["source_seed"]
        lowest = seeds.groupby([self.frame[c] for c in ("setting", "target", "source")]).transform("min")
        return TransferMatrix(self.frame[seeds.isna() | seeds.eq(lowest).fillna(False)].reset_index(drop=True))

    def not_learned(self) -> list[tuple[str, str, int]]:
        """The floor rule: the `(setting, target, seed)` cases whose baseline did not clear its floor
        (`baseline_learned` false). They measure no transfer, so evaluation and histories leave them out
        and say so. A matrix that does not say (`<NA>`) keeps its cases."""
        floored = self.frame[self.frame["baseline_learned"].eq(False).fillna(False)]
        return sorted({(s, t, int(seed)) for s, t, seed in floored[["setting", "target", "seed"]].itertuples(index=False)})

    def learned_only(self) -> TransferMatrix:
        """The matrix without the `not_learned()` cases."""
        return TransferMatrix(self.frame[~self.frame["baseline_learned"].eq(False).fillna(False)]
                              .reset_index(drop=True))

    def ground_truth(self) -> TransferMatrix:
        """What selection is scored against: one source prompt per source, without the `not_learned()` cases;
        refused when those are all it has (it measures no transfer)."""
        truth = self.one_source_seed().learned_only()
        if len(self) and not len(truth):
            raise IntertaskError(f"no baseline cleared its floor (the score of a constant prediction): the "
                                 f"{len(self.not_learned())} case(s) measure no transfer; train the targets longer "
                                 "or with head_init = \"probe\" (see configs/library.toml)")
        return truth

    def holes(self) -> pd.DataFrame:
        """The holes of each setting's grid: `setting, target, source, seed` for every combination of that
        setting's targets × sources (a task never transfers to itself) × seeds without a row."""
        frames = []
        for setting, part in self.frame.groupby("setting", sort=True):
            grid = pd.MultiIndex.from_product([sorted(part[c].unique()) for c in ("target", "source", "seed")],
                                              names=["target", "source", "seed"])
            holes = grid.difference(pd.MultiIndex.from_frame(part[["target", "source", "seed"]])).to_frame(index=False)
            frames.append(holes[holes["target"] != holes["source"]].assign(setting=setting))
        columns = ["setting", "target", "source", "seed"]
        return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)

    def describe_holes(self, holes: pd.DataFrame | None = None, shown: int = 5) -> str:
        """One line per setting: how many of its grid cells are missing (`holes()`), the first `shown` of them."""
        holes = self.holes() if holes is None else holes
        lines = []
        for setting, part in self.frame.groupby("setting", sort=True):
            missing = holes[holes["setting"] == setting]
            line = f"{setting}: {len(part)} of {len(part) + len(missing)} target × source × seed cells"
            if len(missing):
                first = ", ".join(f"{r.source}→{r.target} seed {r.seed}" for r in missing.head(shown).itertuples())
                line += f"; missing {len(missing)}: {first}" + (", …" if len(missing) > shown else "")
            lines.append(line)
        return "\n".join(lines)


def run_floor(metrics_json: str | None) -> tuple[float, int]:
    """(test floor, test examples) recorded in a run's `metrics_json`; (NaN, 0) when absent."""
    import json

    try:
        metrics = json.loads(metrics_json or "{}")
        return float(metrics.get("test_floor", math.nan)), int(metrics.get("test_examples", 0))
    except (TypeError, ValueError, AttributeError):
        return math.nan, 0


def _dtype(column: str) -> str:
    if column in schema.FLAGS:
        return "boolean"
    if column in schema.INTEGERS:
        return "int64" if column == "seed" else "Int64"
    return "object" if column in schema.NAMES + ("validation_curve",) else "float64"


def _unknown(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
