"""Build a `Task` from local files (CSV, TSV, JSONL, Parquet) or a Hugging Face `datasets` dataset.

Contract
- `load_file(path, ...)`: `path` is one file (split deterministically into train / validation /
  test, stratified by label), a directory holding `train.*`, `validation.*` or `dev.*`, and
  `test.*`, or a dict `{split: file}`. A missing validation (or test) split is carved out of
  train with `validation_fraction` (`test_fraction`).
- `load_hf(name, config=None, ...)`: a dataset directory written by `save_to_disk`, or a hub name
  (the hub or the local `datasets` cache); `splits` maps our split names to the dataset's.
- Labels: strings become the sorted label set; numbers with a fractional part and more than
  `MAX_CLASSES_FOR_FLOATS` distinct values make a regression task; other numbers are classes
  (sorted numerically). With `choices_column` each example has its own answer choices and the
  label is the index or the text of the right one (multiple choice).

Every user mistake raises `IntertaskError` with one line; nothing is written.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
import stat
from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

from intertask.errors import IntertaskError
from intertask.tasks.task import SPLITS, Example, Task, TaskKind

SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
SPLIT_ALIASES = {"train": ("train",), "validation": ("validation", "valid", "dev", "val"), "test": ("test",)}
MAX_CLASSES_FOR_FLOATS = 10
MAX_INPUT_BYTES = 2 * 2**30  # a data file is read whole into memory
_HEADER_NAME = re.compile(r"^[\w .()/-]{1,64}$")  # a column name worth showing in a message


# --- reading records -------------------------------------------------------------------------


def _data_file_kind(path: Path) -> str:
    """The kind (`SUFFIXES`' value) of the data file at `path`, judged without reading it: it must exist, have
    a known suffix, be a regular file (through symlinks) and hold at most `MAX_INPUT_BYTES`."""
    if not path.exists():
        raise IntertaskError(f"file not found: {path}; check the path")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise IntertaskError(
            f"unsupported file type {path.suffix or '(none)'!r} for {path}; use one of {', '.join(SUFFIXES)}"
        )
    info = path.stat()  # through symlinks: what would be read
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block, /dev/zero would never end
        raise IntertaskError(f"{path} is not a regular file (a folder, FIFO or device); give a data file")
    if info.st_size > MAX_INPUT_BYTES:
        raise IntertaskError(f"{path} is {info.st_size / 2**30:.1f} GiB; intertask reads data files up to "
                             f"{MAX_INPUT_BYTES // 2**30} GiB, sample or split it")
    return kind


def check_data_path(path: str | Path) -> None:
    """Raise `IntertaskError` unless `load_file` could read `path`, judged without reading a row: a data file
    (see `_data_file_kind`) or a folder whose split files are data files. A study checks its tasks so
    before it trains anything."""
    path = Path(path)
    for file in (_split_files(path).values() if path.is_dir() else [path]):
        _data_file_kind(file)


def read_records(path: str | Path) -> list[dict]:
    """Rows of a CSV / TSV / JSONL / Parquet file as dicts; errors name the file and line."""
    path = Path(path)
    kind = _data_file_kind(path)
    if kind == "parquet":
        return _read_parquet(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as err:
        raise IntertaskError(f"cannot read {path} as UTF-8 text ({err}); save it as UTF-8") from None
    return _read_jsonl(path, text) if kind == "jsonl" else _read_delimited(path, text, "\t" if kind == "tsv" else ",")


def _read_delimited(path: Path, text: str, delimiter: str) -> list[dict]:
    csv.field_size_limit(1 << 30)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if not header:
            raise IntertaskError(f"{path} is empty; it needs a header line and rows")
        rows = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise IntertaskError(
                    f"{path} line {reader.line_num}: {len(row)} fields, the header has {len(header)}; "
                    "fix the row (quote fields that contain the delimiter)"
                )
            rows.append(dict(zip(header, row)))
    except csv.Error as err:
        raise IntertaskError(f"{path} line {reader.line_num}: malformed {path.suffix[1:].upper()} ({err})") from None
    return rows


def _read_jsonl(path: Path, text: str) -> list[dict]:
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise IntertaskError(f"{path} line {number}: malformed JSON ({err.msg}); one JSON object per line") from None
        except RecursionError:
            raise IntertaskError(f"{path} line {number}: nests lists or objects too deeply to read; "
                                 "one flat JSON object per line") from None
        if not isinstance(row, dict):
            raise IntertaskError(f"{path} line {number}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


def _read_parquet(path: Path) -> list[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as err:
        raise IntertaskError(f"cannot read {path} as Parquet ({err})") from None


# --- splitting -------------------------------------------------------------------------------


def stratified_split(
    items: Sequence, keys: Sequence, fractions: Sequence[float], seed: int
) -> list[list]:
    """Split `items` into len(fractions)+1 parts; part i gets round(fractions[i] * n_key) of each key.

    Deterministic in `seed`; the last part (the remainder, usually train) keeps at least one item
    of every key, so no label is missing from train. Order inside a part follows `items`.
    Unhashable or float keys (regression) are bucketed by rank into deciles first.
    """
    groups: dict = defaultdict(list)
    for i, key in enumerate(keys):
        groups[key].append(i)
    rng = random.Random(seed)
    parts: list[list[int]] = [[] for _ in range(len(fractions) + 1)]
    for key in sorted(groups, key=repr):
        idx = groups[key][:]
        rng.shuffle(idx)
        start = 0
        for p, frac in enumerate(fractions):
            take = min(round(frac * len(idx)), max(len(idx) - start - 1, 0))
            parts[p].extend(idx[start:start + take])
            start += take
        parts[-1].extend(idx[start:])
    return [[items[i] for i in sorted(part)] for part in parts]


def stratified_sample(examples: Sequence, size: int, seed: int = 0) -> list:
    """About `size` of `examples`, stratified by label as `stratified_split` splits (each label keeps at least
    one example), deterministic in `seed`, in their order; all of them when there are no more than `size`."""
    if len(examples) <= size:
        return list(examples)
    keys = _strata([ex.label for ex in examples])
    return stratified_split(list(examples), keys, [1 - size / len(examples)], seed)[-1]


def _strata(labels: Sequence) -> list:
    """Keys for stratification: labels themselves, or rank deciles for float labels."""
    if all(isinstance(v, int) for v in labels):
        return list(labels)
    order = sorted(range(len(labels)), key=lambda i: labels[i])
    keys = [0] * len(labels)
    for rank, i in enumerate(order):
        keys[i] = rank * 10 // max(len(labels), 1)
    return keys


# --- records to a Task -----------------------------------------------------------------------


def _infer_labels(values: list) -> tuple[TaskKind, tuple[str, ...], dict]:
    """Decide classification vs regression from raw label values; return (kind, labels, value->label)."""
    numbers = []
    for v in values:
        try:
            numbers.append(float(v))
        except (TypeError, ValueError):
            numbers = None
            break
    if numbers is not None and not isinstance(values[0], bool):
        distinct = set(numbers)
        if any(x != int(x) for x in distinct) and len(distinct) > MAX_CLASSES_FOR_FLOATS:
            return TaskKind.REGRESSION, (), {v: float(v) for v in set(values)}
        ordered = sorted(distinct)
        names = tuple(str(int(x)) if x == int(x) else str(x) for x in ordered)
        position = {x: i for i, x in enumerate(ordered)}
        return TaskKind.CLASSIFICATION, names, {v: position[float(v)] for v in set(values)}
    names = tuple(sorted({str(v) for v in values}))
    position = {n: i for i, n in enumerate(names)}
    return TaskKind.CLASSIFICATION, names, {v: position[str(v)] for v in set(values)}


def _check_columns(where: str, row: dict, wanted: dict[str, str | None]) -> None:
    """Every wanted column is in `row`. The message lists the columns only when they look like column
    names, so a file that is not a table (a secret read through a .csv symlink) is never echoed."""
    for option, column in wanted.items():
        if column is not None and column not in row:
            names = [str(c) for c in row]
            shown = (f"the columns are {', '.join(map(repr, names))}" if all(_HEADER_NAME.match(c) for c in names)
                     else f"its first line ({len(names)} field(s)) does not look like a header")
            raise IntertaskError(f"{where}: no column {column!r} for {option}; {shown}")


def _bad_value(value, numeric: bool) -> str | None:
    """Why a cell cannot be a text or label (missing, a list or table, NaN or infinite), or None."""
    if value is None or (isinstance(value, str) and not value and numeric):
        return "no value"
    if isinstance(value, (list, dict)):
        return f"a {type(value).__name__}, not a single value"
    if numeric:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(number):
            return "a missing (NaN) or infinite value"
    return None


def _choices(value, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            value = value.split("|")
    if not isinstance(value, (list, tuple)) or not value:
        raise IntertaskError(f"{where}: choices must be a non-empty list (JSON list or 'a|b|c')")
    return tuple(str(c) for c in value)


def task_from_records(
    name: str,
    records: Mapping[str, list[dict]],
    *,
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str = "label",
    choices_column: str | None = None,
    label_names: Sequence[str] | None = None,
    tags: Sequence[str] = (),
    source: str = "",
    validation_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Task:
    """A validated `Task` from rows per split (`records` has `train` and optionally the others).

    `label_names`: class names for integer labels (a `datasets` ClassLabel); otherwise inferred.
    Missing validation / test splits are carved out of train, stratified, deterministic in `seed`.
    """
    wanted = {"text_column": text_column, "text_pair_column": text_pair_column,
              "label_column": label_column, "choices_column": choices_column}
    for option, column in wanted.items():
        if column is not None and not str(column).strip():
            raise IntertaskError(f"task {name!r}: {option} is empty; name a column")
    if text_column == label_column:
        raise IntertaskError(f"task {name!r}: text_column and label_column are both {text_column!r}; "
                             "the label would be the input")
    for split, rows in records.items():
        if not rows:
            raise IntertaskError(f"task {name!r}: the {split} split is empty; give it rows or leave it out")
        _check_columns(f"task {name!r} ({split})", rows[0], wanted)
    if "train" not in records:
        raise IntertaskError(f"task {name!r}: no train split; name a file train.* or pass a single file")
    for split, rows in records.items():
        for i, row in enumerate(rows):
            for column, numeric in ((label_column, not choices_column), (text_column, False)):
                problem = _bad_value(row.get(column), numeric)
                if problem is not None:
                    raise IntertaskError(f"task {name!r}: {split} row {i + 1} has {problem} in {column!r}; "
                                         "fix or drop the row")

    if choices_column:
        kind, labels, mapping = TaskKind.MULTIPLE_CHOICE, (), None
    elif label_names is not None:
        kind, labels = TaskKind.CLASSIFICATION, tuple(label_names)
        mapping = {i: i for i in range(len(labels))}
    else:
        values = [row[label_column] for rows in records.values() for row in rows]
        kind, labels, mapping = _infer_labels(values)

    def example(row: dict, where: str) -> Example:
        pair = row.get(text_pair_column) if text_pair_column else None
        if kind is TaskKind.MULTIPLE_CHOICE:
            choices = _choices(row[choices_column], where)
            raw = row[label_column]
            label = choices.index(str(raw)) if str(raw) in choices else _int(raw, where)
            return Example(str(row[text_column]), label, None if pair is None else str(pair), choices)
        if row[label_column] not in mapping:
            raise IntertaskError(
                f"{where}: label {row[label_column]!r} is not one of the {len(labels)} classes "
                "(an unlabelled split? map a labelled one)"
            )
        return Example(str(row[text_column]), mapping[row[label_column]], None if pair is None else str(pair))

    splits = {s: [example(r, f"task {name!r} {s} row {i + 1}") for i, r in enumerate(rows)]
              for s, rows in records.items()}
    missing = [s for s in ("validation", "test") if s not in splits]
    if missing:
        train = splits["train"]
        fractions = [{"validation": validation_fraction, "test": test_fraction}[s] for s in missing]
        keys = _strata([ex.label for ex in train]) if kind is not TaskKind.MULTIPLE_CHOICE else [0] * len(train)
        *carved, splits["train"] = stratified_split(train, keys, fractions, seed)
        splits.update(zip(missing, carved))
    metrics = ("pearson", "spearman") if kind is TaskKind.REGRESSION else ("accuracy", "macro_f1")
    return Task(name=name, kind=kind, labels=labels, metrics=metrics, tags=tuple(tags), source=source,
                **{s: splits[s] for s in SPLITS}).validate()


def _int(value, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise IntertaskError(f"{where}: label {value!r} is neither a choice nor a choice index") from None


# --- public loaders --------------------------------------------------------------------------


def _split_files(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for file in sorted(folder.iterdir()):
        if file.suffix.lower() not in SUFFIXES:
            continue
        for split, aliases in SPLIT_ALIASES.items():
            if file.stem.lower() in aliases and split not in found:
                found[split] = file
    if "train" not in found:
        raise IntertaskError(
            f"{folder} has no train file; name the files train.csv, validation.csv (or dev.csv), test.csv"
        )
    return found


def load_file(
    path: str | Path | Mapping[str, str | Path] | None = None,
    *,
    name: str | None = None,
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str = "label",
    choices_column: str | None = None,
    splits: Mapping[str, str | Path] | None = None,
    tags: Sequence[str] = (),
    validation_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Task:
    """A task from a file, a folder of split files, or `splits={"train": f1, "test": f2, ...}`.

    Example: `load_file("reviews.csv", text_column="review", label_column="stars")`.
    """
    if splits is None and isinstance(path, Mapping):
        splits, path = path, None
    if not splits and path is None:
        raise IntertaskError("give a file, a folder of split files, or splits={'train': ..., 'test': ...}")
    if splits is not None:
        unknown = set(splits) - set(SPLITS)
        if unknown:
            raise IntertaskError(f"unknown split name(s) {sorted(unknown)}; use {', '.join(SPLITS)}")
        files = {s: Path(f) for s, f in splits.items()}
    else:
        path = Path(path)  # a missing path is refused by read_records, with the same message
        files = _split_files(path) if path.is_dir() else {"train": path}
    first = Path(path) if path is not None else files.get("train", next(iter(files.values())))
    task_name = name or (first.name if first.is_dir() else first.stem)
    records = {s: read_records(f) for s, f in files.items()}
    return task_from_records(
        task_name, records, text_column=text_column, text_pair_column=text_pair_column,
        label_column=label_column, choices_column=choices_column, tags=tags, source=str(path or first),
        validation_fraction=validation_fraction, test_fraction=test_fraction, seed=seed,
    )


def load_hf(
    name: str,
    config: str | None = None,
    *,
    splits: Mapping[str, str] | None = None,
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str = "label",
    choices_column: str | None = None,
    tags: Sequence[str] = (),
    validation_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Task:
    """A task from `datasets`: a `save_to_disk` folder, or `load_dataset(name, config)`.

    `splits` maps our names to the dataset's (default: train, validation/dev, test as found).
    ClassLabel features give the label names.
    """
    import datasets

    try:
        if Path(name).is_dir():
            data = datasets.load_from_disk(name)
        else:
            data = datasets.load_dataset(name, config)
    except FileNotFoundError as err:
        raise IntertaskError(f"cannot load dataset {name!r}{f' ({config})' if config else ''}: {err}") from None
    except Exception as err:  # datasets raises many types for "not found / offline"
        raise IntertaskError(
            f"cannot load dataset {name!r}{f' config {config!r}' if config else ''} "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
            "check the name, or save it with save_to_disk and pass the folder"
            + ("; offline, set HF_DATASETS_OFFLINE=1 to use the local cache" if "Connection" in type(err).__name__ else "")
        ) from None
    if isinstance(data, datasets.Dataset):
        data = datasets.DatasetDict({"train": data})
    if splits is None:
        splits = {}
        for split, aliases in SPLIT_ALIASES.items():
            match = next((a for a in aliases if a in data), None)
            if match:
                splits[split] = match
    for ours, theirs in splits.items():
        if theirs not in data:
            raise IntertaskError(f"dataset {name!r} has no split {theirs!r}; it has {', '.join(data)}")
    if "train" not in splits:
        raise IntertaskError(f"dataset {name!r} has no train split; map one with splits={{'train': ...}}")
    feature = data[splits["train"]].features.get(label_column)
    label_names = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    records = {ours: data[theirs].to_list() for ours, theirs in splits.items()}
    task_name = Path(name).name if Path(name).is_dir() else name + (f":{config}" if config else "")
    return task_from_records(
        task_name, records, text_column=text_column, text_pair_column=text_pair_column,
        label_column=label_column, choices_column=choices_column, label_names=label_names, tags=tags,
        source=f"hf:{name}" + (f":{config}" if config else ""),
        validation_fraction=validation_fraction, test_fraction=test_fraction, seed=seed,
    )
