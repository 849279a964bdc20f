"""A transfer matrix from outside a study: one long table, one row per setting × target × source × seed.

Columns (`COLUMNS`; the first three of `OPTIONAL` may be absent from an input):

* `target`, `source`: task names; `seed`: the target run's seed (an integer);
* `score`: the target's main metric after transfer from `source`, 0–100, higher is better;
* `setting`: what was trained (e.g. TaskWeb's `t5l`, `t5b-bitfit`); `"default"` when the input has none;
* `baseline`: the no-transfer score of that setting, target and seed; NaN when not published;
* `gain = score − baseline` (points) and `relative_gain = gain / baseline × 100` (%), NaN without a baseline;
* per cell (setting, target, source), repeated on each of its seed rows: `mean_relative_gain`, the mean of
  `relative_gain` over the cell's seeds, and `positive_share`, the share of its seeds with `gain > 0`.
  Computed from the baselines when every seed of the cell has one; otherwise as the input gives them
  (TaskWeb publishes these two per cell but not its baselines); otherwise NaN.

These are `intertask.study.export.transfer_matrix`'s columns plus `setting` and the cell summaries, so one
setting of a matrix goes to `intertask.evaluation.evaluate.evaluate_predictions` as it is. A row whose score
is empty (a failed run) is dropped: `missing_cells` reports it with every other hole in the grid, nothing
is ever filled in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from intertask.errors import IntertaskError, did_you_mean
from intertask.paths import write_table

REQUIRED = ("target", "source", "seed", "score")
OPTIONAL = ("setting", "baseline", "mean_relative_gain", "positive_share")
COLUMNS = ("setting", "target", "source", "seed", "score", "baseline", "gain", "relative_gain",
           "mean_relative_gain", "positive_share")
CELL = ["setting", "target", "source"]
SUFFIXES = (".parquet", ".csv", ".jsonl")
DEFAULT_SETTING = "default"


def _suffix(path: Path, flag: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise IntertaskError(f"{flag} {str(path)!r} must end in {', '.join(SUFFIXES)}")
    return suffix


def read_table(path) -> pd.DataFrame:
    """The rows of a CSV, Parquet or JSON-lines file (by its suffix), as they are."""
    path = Path(path)
    suffix = _suffix(path, "table")
    if not path.is_file():
        raise IntertaskError(f"no file {str(path)!r}")
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path)
        return pd.read_json(path, lines=True)
    except (ValueError, OSError, UnicodeDecodeError) as err:  # pyarrow and the parsers raise ValueError subclasses
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise IntertaskError(f"cannot read {str(path)!r} as {suffix[1:]}: {first}") from None


def _numbers(frame: pd.DataFrame, column: str, where: str) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = frame[column].notna() & (values.isna() | ~np.isfinite(values.astype(float)))
    if bad.any():
        row = frame[bad].iloc[0]
        raise IntertaskError(f"{where}: column '{column}' must hold numbers; got {row[column]!r} for target "
                             f"{row['target']!r}, source {row['source']!r}, seed {row['seed']!r}")
    return values.astype(float)


def _constant_within(frame: pd.DataFrame, keys: list[str], column: str, where: str) -> None:
    counts = frame.dropna(subset=[column]).groupby(keys)[column].nunique()
    if (counts > 1).any():
        key = dict(zip(keys, counts[counts > 1].index[0]))
        raise IntertaskError(f"{where}: {column} differs between the rows of " +
                             ", ".join(f"{k} {v!r}" if isinstance(v, str) else f"{k} {v}" for k, v in key.items())
                             + "; it must be one value there")


def from_long_table(frame: pd.DataFrame, where: str = "table") -> pd.DataFrame:
    """Check a long table (`REQUIRED` columns, any of `OPTIONAL`) and return the matrix with all `COLUMNS`,
    sorted by setting, target, seed, source. `where` names the input in error messages."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise IntertaskError(f"{where} lacks column(s) {missing}; it needs {list(REQUIRED)} and may have "
                             f"{list(OPTIONAL)}")
    table = frame[[c for c in REQUIRED + OPTIONAL if c in frame.columns]].copy()
    table["setting"] = (table["setting"].astype("string").fillna(DEFAULT_SETTING) if "setting" in table
                        else DEFAULT_SETTING)
    for column in ("target", "source"):
        if table[column].isna().any():
            raise IntertaskError(f"{where}: column '{column}' has an empty value")
        table[column] = table[column].astype(str)
    seeds = pd.to_numeric(table["seed"], errors="coerce")
    if seeds.isna().any() or (seeds != seeds.round()).any():
        raise IntertaskError(f"{where}: column 'seed' must hold integers; got {table['seed'][seeds.isna() | (seeds != seeds.round())].iloc[0]!r}")
    table["seed"] = seeds.astype(int)
    for column in ("score",) + tuple(c for c in OPTIONAL[1:] if c in table):
        table[column] = _numbers(table, column, where)
    table = table.dropna(subset=["score"])  # a failed run: a missing cell, reported by missing_cells
    if table.empty:
        raise IntertaskError(f"{where} has no row with a score")
    dupes = table[table.duplicated(CELL + ["seed"], keep=False)]
    if len(dupes):
        row = dupes.iloc[0]
        raise IntertaskError(f"{where} has more than one row for setting {row['setting']!r}, target "
                             f"{row['target']!r}, source {row['source']!r}, seed {row['seed']}")
    if "positive_share" in table and not table["positive_share"].dropna().between(0, 1).all():
        raise IntertaskError(f"{where}: column 'positive_share' must lie in [0, 1]")
    if "baseline" in table:
        _constant_within(table, ["setting", "target", "seed"], "baseline", where)
    for column in ("mean_relative_gain", "positive_share"):
        if column in table:
            _constant_within(table, CELL, column, where)
    for column in OPTIONAL[1:]:
        if column not in table:
            table[column] = np.nan
    table["gain"] = table["score"] - table["baseline"]
    table["relative_gain"] = table["gain"] / table["baseline"].where(table["baseline"] != 0) * 100
    cells = table.groupby(CELL)
    measured = table["baseline"].notna().groupby([table[c] for c in CELL]).transform("all")  # vectorised: 1M+ rows
    table["mean_relative_gain"] = table["mean_relative_gain"].mask(measured, cells["relative_gain"].transform("mean"))
    positive = (table["gain"] > 0).astype(float).groupby([table[c] for c in CELL]).transform("mean")
    table["positive_share"] = table["positive_share"].mask(measured, positive)
    return table[list(COLUMNS)].sort_values(["setting", "target", "seed", "source"], ignore_index=True)


def read_matrix(path) -> pd.DataFrame:
    """The checked matrix of a long-table file (CSV, Parquet or JSON lines): `from_long_table(read_table(path))`."""
    return from_long_table(read_table(path), where=str(path))


def write_matrix(matrix: pd.DataFrame, out) -> Path:
    """Write `matrix` to `out` (.parquet, .csv or .jsonl) through a temporary file: complete or untouched."""
    return write_table(matrix, Path(out), _suffix(Path(out), "--out").lstrip("."))


def missing_cells(matrix: pd.DataFrame) -> pd.DataFrame:
    """The holes of each setting's grid: `setting, target, source, seed` for every combination of that
    setting's targets × sources (a task never transfers to itself) × seeds without a row."""
    frames = []
    for setting, part in matrix.groupby("setting", sort=True):
        grid = pd.MultiIndex.from_product([sorted(part["target"].unique()), sorted(part["source"].unique()),
                                           sorted(part["seed"].unique())], names=["target", "source", "seed"])
        present = pd.MultiIndex.from_frame(part[["target", "source", "seed"]])
        holes = grid.difference(present).to_frame(index=False)
        frames.append(holes[holes["target"] != holes["source"]].assign(setting=setting))
    columns = ["setting", "target", "source", "seed"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def describe_missing(matrix: pd.DataFrame, missing: pd.DataFrame, shown: int = 5) -> str:
    """One line per setting: how many of its grid cells are missing, the first `shown` of them."""
    lines = []
    for setting, part in matrix.groupby("setting", sort=True):
        holes = missing[missing["setting"] == setting]
        total = len(part) + len(holes)
        line = f"{setting}: {len(part)} of {total} target × source × seed cells"
        if len(holes):
            first = ", ".join(f"{r.source}→{r.target} seed {r.seed}" for r in holes.head(shown).itertuples())
            line += f"; missing {len(holes)}: {first}" + (", …" if len(holes) > shown else "")
        lines.append(line)
    return "\n".join(lines)


def select(matrix: pd.DataFrame, setting: str | None = None, targets=None) -> pd.DataFrame:
    """The rows of one `setting` (needed when the matrix has several) and, if given, of `targets` only."""
    settings = sorted(matrix["setting"].unique())
    if setting is None:
        if len(settings) > 1:
            raise IntertaskError(f"the matrix has {len(settings)} settings ({', '.join(settings)}); choose one "
                                 "with --setting")
        setting = settings[0]
    if setting not in settings:
        raise IntertaskError(f"no setting {setting!r} in the matrix{did_you_mean(setting, settings)}; it has "
                             f"{', '.join(settings)}")
    part = matrix[matrix["setting"] == setting]
    if targets is not None:
        targets = [str(t) for t in targets]
        unknown = [t for t in targets if t not in set(part["target"])]
        if unknown:
            raise IntertaskError(f"target {unknown[0]!r} is not in setting {setting!r}"
                                 f"{did_you_mean(unknown[0], part['target'].unique())}")
        part = part[part["target"].isin(targets)]
    return part.reset_index(drop=True)
