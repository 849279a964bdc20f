"""The transfer matrix's one schema, and the checks every input passes (`from_long_table`).

One row per setting × target × source × source seed × seed (`KEY`). Columns (`COLUMNS`; an input needs
`REQUIRED` and may have any of `OPTIONAL`):

* `setting`: what was trained (e.g. TaskWeb's `t5l`, `t5b-bitfit`); `"default"` when the input has none;
* `target`, `source`: task names; `source_seed`: the seed of the source prompt (`<NA>` when the input does
  not say: one source prompt per source); `seed`: the target run's seed (an integer);
* `score`: the target's main metric after transfer from `source`, 0–100, higher is better;
* `baseline`: the no-transfer score of that setting, target and seed; NaN when not published;
* `gain = score − baseline` (points) and `relative_gain = gain / baseline × 100` (%), NaN without a baseline;
* `floor`: the score of the best constant prediction on the same test examples
  (`intertask.tasks.metrics.floor_score`), `n_test` their number, `score_se` the binomial standard error of
  `score` (points); `learned` / `baseline_learned`: the transfer / the baseline cleared its floor
  (`intertask.tasks.metrics.learned`); all four `<NA>`/NaN where not known;
* per cell (setting, target, source), repeated on each of its rows: `mean_relative_gain`, the mean of
  `relative_gain` over the cell's rows, and `positive_share`, the share of them with `gain > 0`.
  Computed from the baselines when every row of the cell has one; otherwise as the input gives them
  (TaskWeb publishes these two per cell but not its baselines); otherwise NaN;
* `validation_curve`: the transfer run's `[[step, validation score], ...]` where it was recorded
  (`library measure`), else None; a CSV holds it as JSON text.

`intertask.matrix.transfer.TransferMatrix` holds a checked frame of these columns. A row whose score is
empty (a failed run) is dropped: `TransferMatrix.holes` reports it with every other hole in the grid,
nothing is ever filled in. Files: `.csv`, `.parquet`, `.json` (a list of row objects) and `.jsonl` (one
row object a line), chosen by the suffix (`FORMATS`), for reading and writing alike.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from intertask.errors import IntertaskError
from intertask.formatting import show

KEY = ("setting", "target", "source", "source_seed", "seed")
REQUIRED = ("target", "source", "seed", "score")
OPTIONAL = ("setting", "source_seed", "baseline", "floor", "n_test", "score_se", "learned", "baseline_learned",
            "mean_relative_gain", "positive_share", "validation_curve")
COLUMNS = ("setting", "target", "source", "source_seed", "seed", "score", "baseline", "gain", "relative_gain",
           "floor", "n_test", "score_se", "learned", "baseline_learned", "mean_relative_gain", "positive_share",
           "validation_curve")
NUMBERS = ("score", "baseline", "floor", "score_se", "mean_relative_gain", "positive_share")
INTEGERS = ("seed", "source_seed", "n_test")
FLAGS = ("learned", "baseline_learned")
NAMES = ("setting", "target", "source")
CELL = ["setting", "target", "source"]
FORMATS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "jsonl"}
SUFFIXES = tuple(FORMATS)
DEFAULT_SETTING = "default"
MAX_SEED = 2**53  # seeds beyond this are not exact as floats (CSV, JSON) and name no real run


def file_format(path: Path, what: str = "table") -> str:
    """The format of a matrix file by its suffix (`FORMATS`): one rule for reading and writing. `what`, the
    parameter that named the file, starts the refusal."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise IntertaskError(f"{what} {str(path)!r} must end in {', '.join(SUFFIXES)}", what)
    return FORMATS[suffix]


def read_table(path) -> pd.DataFrame:
    """The rows of a CSV, Parquet, JSON or JSON-lines file (by its suffix), as they are. A CSV row with
    more fields than the header is refused (pandas would turn the extra fields into an index)."""
    path = Path(path)
    format = file_format(path, "table")
    if not path.is_file():
        raise IntertaskError(f"no file {str(path)!r}")
    try:
        if format == "parquet":
            return pd.read_parquet(path)
        if format == "csv":
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                return pd.read_csv(path, index_col=False)
        return pd.read_json(path, lines=format == "jsonl", orient="records")
    except pd.errors.ParserWarning:
        raise IntertaskError(f"cannot read {str(path)!r} as csv: a row has more fields than the header") from None
    except (ValueError, OSError, UnicodeDecodeError) as err:  # pyarrow and the parsers raise ValueError subclasses
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise IntertaskError(f"cannot read {str(path)!r} as {format}: {first}") from None


def _where_row(frame: pd.DataFrame, bad) -> str:
    row = frame[bad].iloc[0]
    return f"target {show(row['target'])}, source {show(row['source'])}, seed {show(row['seed'])}"


def _numbers(frame: pd.DataFrame, column: str, where: str) -> pd.Series:
    """`column` as finite floats (NaN where empty); booleans and dates are not numbers."""
    raw = frame[column]
    typed = pd.api.types.is_bool_dtype(raw) or pd.api.types.is_datetime64_any_dtype(raw) or \
        pd.api.types.is_timedelta64_dtype(raw)
    values = pd.to_numeric(raw, errors="coerce") if not typed else pd.Series(np.nan, index=raw.index)
    bad = raw.notna() & (values.isna() | ~np.isfinite(values.astype(float)))
    if raw.dtype == object:
        bad |= raw.map(lambda v: isinstance(v, bool))
    if bad.any():
        raise IntertaskError(f"{where}: column '{column}' must hold numbers; got {show(raw[bad].iloc[0])} for "
                             + _where_row(frame, bad))
    return values.astype(float)


def _integers(frame: pd.DataFrame, column: str, where: str) -> pd.Series:
    """`column` as nullable integers; values that are not whole, finite and within ±`MAX_SEED` are refused."""
    values = _numbers(frame, column, where)
    bad = values.notna() & ((values != values.round()) | (values.abs() > MAX_SEED))
    if column == "seed":
        bad |= values.isna()
    if bad.any():
        raise IntertaskError(f"{where}: column '{column}' must hold integers within ±{MAX_SEED}; got "
                             f"{show(frame[column][bad].iloc[0])} for " + _where_row(frame, bad))
    return values.astype("Int64")


def _flags(frame: pd.DataFrame, column: str, where: str) -> pd.Series:
    """`column` as nullable booleans: true/false (or the text True/False, as CSV writes them)."""
    def flag(value):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            return pd.NA
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise IntertaskError(f"{where}: column '{column}' must hold true or false; got {value!r}")

    return frame[column].map(flag).astype("boolean")


def _curves(frame: pd.DataFrame, where: str) -> pd.Series:
    """`validation_curve` as lists of `[step, score]` (int, finite float), None where absent; JSON text
    (how a CSV holds it) and nested arrays (how Parquet returns it) are read the same way."""
    def curve(value):
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            return None
        try:
            pairs = [(step, float(score)) for step, score in (json.loads(value) if isinstance(value, str) else value)]
            whole = all(float(step) == int(step) >= 0 and np.isfinite(score) for step, score in pairs)
        except (TypeError, ValueError, RecursionError):
            whole = False
        if not whole:
            raise IntertaskError(f"{where}: column 'validation_curve' must hold [step, score] pairs; got "
                                 f"{str(value)[:80]!r}")
        return [[int(step), score] for step, score in pairs]

    return frame["validation_curve"].map(curve).astype(object)


def _names(frame: pd.DataFrame, column: str, where: str) -> pd.Series:
    """`column` as text; an empty or blank name is refused the same way in every format."""
    names = frame[column].astype("string")
    empty = names.isna() | (names.str.strip() == "")
    if empty.any():
        raise IntertaskError(f"{where}: column '{column}' has an empty value")
    return names.astype(str)


def _constant_within(frame: pd.DataFrame, keys: list[str], column: str, where: str) -> None:
    counts = frame.dropna(subset=[column]).groupby(keys)[column].nunique()
    if (counts > 1).any():
        key = dict(zip(keys, counts[counts > 1].index[0]))
        raise IntertaskError(f"{where}: {column} differs between the rows of " +
                             ", ".join(f"{k} {v!r}" if isinstance(v, str) else f"{k} {v}" for k, v in key.items())
                             + "; it must be one value there")


def from_long_table(frame: pd.DataFrame, where: str = "table") -> pd.DataFrame:
    """Check a long table (`REQUIRED` columns, any of `OPTIONAL`) and return the matrix with all `COLUMNS`,
    sorted by setting, target, seed, source, source seed. `where` names the input in error messages."""
    if not isinstance(frame, pd.DataFrame):
        raise IntertaskError(f"{where} must be a table of rows, got {type(frame).__name__}")
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise IntertaskError(f"{where} lacks column(s) {missing}; it needs {list(REQUIRED)} and may have "
                             f"{list(OPTIONAL)}")
    table = frame[[c for c in REQUIRED + OPTIONAL if c in frame.columns]].reset_index(drop=True)
    table["setting"] = (table["setting"].astype("string").fillna(DEFAULT_SETTING) if "setting" in table
                        else DEFAULT_SETTING)
    for column in NAMES:
        table[column] = _names(table, column, where)
    for column in INTEGERS:
        table[column] = _integers(table, column, where) if column in table else pd.Series(pd.NA, table.index, "Int64")
    table["seed"] = table["seed"].astype("int64")
    for column in NUMBERS:
        table[column] = _numbers(table, column, where) if column in table else np.nan
    for column in FLAGS:
        table[column] = _flags(table, column, where) if column in table else pd.Series(pd.NA, table.index, "boolean")
    table["validation_curve"] = _curves(table, where) if "validation_curve" in table else None
    table = table.dropna(subset=["score"])  # a failed run: a missing cell, reported by TransferMatrix.holes
    if table.empty:
        raise IntertaskError(f"{where} has no row with a score")
    dupes = table[table.duplicated(list(KEY), keep=False)]
    if len(dupes):
        row = dupes.iloc[0]
        source_seed = "" if pd.isna(row["source_seed"]) else f" (source seed {row['source_seed']})"
        raise IntertaskError(f"{where} has more than one row for setting {row['setting']!r}, target "
                             f"{row['target']!r}, source {row['source']!r}{source_seed}, seed {row['seed']}")
    if not table["positive_share"].dropna().between(0, 1).all():
        raise IntertaskError(f"{where}: column 'positive_share' must lie in [0, 1]")
    _constant_within(table, ["setting", "target", "seed"], "baseline", where)
    for column in ("mean_relative_gain", "positive_share"):
        _constant_within(table, CELL, column, where)
    table["gain"] = table["score"] - table["baseline"]
    table["relative_gain"] = table["gain"] / table["baseline"].where(table["baseline"] != 0) * 100
    cells = table.groupby(CELL)
    measured = table["baseline"].notna().groupby([table[c] for c in CELL]).transform("all")  # vectorised: 1M+ rows
    table["mean_relative_gain"] = table["mean_relative_gain"].mask(measured, cells["relative_gain"].transform("mean"))
    positive = (table["gain"] > 0).astype(float).groupby([table[c] for c in CELL]).transform("mean")
    table["positive_share"] = table["positive_share"].mask(measured, positive)
    order = ["setting", "target", "seed", "source", "source_seed"]
    return table[list(COLUMNS)].sort_values(order, ignore_index=True)
