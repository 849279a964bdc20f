"""A selector's scores from a file, to evaluate any published or home-made method as another method.

`read_predictions(path)` returns `target, source, predicted` (higher = predicted more helpful), one row
per pair. Accepted files:

* a long table (.csv, .parquet, .jsonl) with columns `target`, `source` and `score` (or `predicted`);
* a pickle (.p, .pkl, .pickle), read by `intertask.matrix.safe_pickle.load_plain` (never `pickle.load`),
  holding either `{target: {source: score}}` (TaskWeb's RoE and TaskShop files) or
  `{(source, target): score}` (TaskWeb's LLM-similarity file), where a score is a number or a sequence
  whose first element is the number.

`symmetric=True` scores a pair by the mean of both directions, (source → target) and (target → source),
where both are given, as TaskWeb evaluates LLM-similarity.
"""

from __future__ import annotations

import math
import reprlib
from numbers import Real
from pathlib import Path

import pandas as pd

from intertask.errors import IntertaskError
from intertask.matrix.safe_pickle import load_plain
from intertask.matrix.table import SUFFIXES, read_table

PICKLE_SUFFIXES = (".p", ".pkl", ".pickle")
COLUMNS = ["target", "source", "predicted"]


def _number(value, path: Path, pair) -> float:
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
    if hasattr(value, "item") and getattr(value, "size", 1) == 1:  # numpy scalars and 0-d arrays
        value = value.item()
    try:
        number = None if isinstance(value, bool) or not isinstance(value, Real) else float(value)
    except OverflowError:  # an integer beyond float's range
        number = None
    if number is None or not math.isfinite(number):
        raise IntertaskError(f"{str(path)!r}: the score of {reprlib.repr(pair)} must be a finite number, "
                             f"got {reprlib.repr(value)}")
    return number


def _from_pickle(path: Path) -> pd.DataFrame:
    data = load_plain(path)
    if not isinstance(data, dict) or not data:
        raise IntertaskError(f"{str(path)!r} must hold a non-empty dict of scores, got {type(data).__name__}")
    rows = []
    for key, value in data.items():
        if isinstance(key, str) and isinstance(value, dict):
            rows += [(key, str(source), _number(v, path, (source, key))) for source, v in value.items()]
        elif isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, str) for k in key):
            rows.append((key[1], key[0], _number(value, path, key)))
        else:
            raise IntertaskError(f"{str(path)!r}: expected {{target: {{source: score}}}} or "
                                 f"{{(source, target): score}}, found key {reprlib.repr(key)}")
    return pd.DataFrame(rows, columns=COLUMNS)


def _from_table(path: Path) -> pd.DataFrame:
    table = read_table(path)
    score = "score" if "score" in table.columns else "predicted"
    missing = [c for c in ("target", "source", score) if c not in table.columns]
    if missing:
        raise IntertaskError(f"{str(path)!r} lacks column(s) {missing}; it needs target, source, score")
    values = pd.to_numeric(table[score], errors="coerce")
    if values.isna().any() or not values.map(math.isfinite).all():
        row = table[values.isna() | ~values.map(math.isfinite)].iloc[0]
        raise IntertaskError(f"{str(path)!r}: score must be a finite number, got {row[score]!r} for target "
                             f"{row['target']!r}, source {row['source']!r}")
    return pd.DataFrame({"target": table["target"].astype(str), "source": table["source"].astype(str),
                         "predicted": values.astype(float)})


def read_predictions(path, symmetric: bool = False) -> pd.DataFrame:
    """`target, source, predicted` from the file at `path` (see the module docstring)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        frame = _from_pickle(path)
    elif suffix in SUFFIXES:
        frame = _from_table(path)
    else:
        raise IntertaskError(f"predictions {str(path)!r} must end in {', '.join(SUFFIXES + PICKLE_SUFFIXES)}")
    dupes = frame[frame.duplicated(["target", "source"], keep=False)]
    if len(dupes):
        raise IntertaskError(f"{str(path)!r} scores target {dupes['target'].iloc[0]!r}, source "
                             f"{dupes['source'].iloc[0]!r} more than once")
    if symmetric:
        mirror = frame.rename(columns={"target": "source", "source": "target", "predicted": "mirror"})
        frame = frame.merge(mirror, on=["target", "source"], how="left")
        frame["predicted"] = frame[["predicted", "mirror"]].mean(axis=1)
        frame = frame[COLUMNS]
    return frame.sort_values(["target", "source"], ignore_index=True)

