"""TaskWeb's published transfers (Kim et al., EMNLP 2023) as a transfer matrix.

TaskWeb: Selecting Better Source Tasks for Multi-task NLP, https://arxiv.org/abs/2305.13256;
data and scripts: https://github.com/danieljkim0118/TaskWeb. `read_taskweb(clone)` reads a local clone:

* `data/taskweb/results/<TARGET>/<SOURCE>/<MODEL>-e<EPOCHS>-lr<LR>-b<BATCH>-s<SEED>/eval_results.json`,
  one finished transfer each. `setting` = `<MODEL>` (`t5s`, `t5b`, `t5l`, `gpt2m`, `roberta` fine-tuning;
  `t5b-bitfit`, `t5b-lora`, `t5b-pfeiffer`, `t5l-pfeiffer`). `score` = 100 × the mean of the target's
  metrics in `METRICS` that the file holds, each read as TaskWeb's `load.py` reads it (a one-element list
  is its element; a value above 1 is a percentage, divided by 100; here "above 1 in magnitude", so that a
  negative correlation given in percent is scaled too). A file whose metrics are NaN is a failed run: a
  missing cell. Where a transfer was run with several hyperparameter sets, `configs/<model>_<adaptation>.json`
  of the clone names the one TaskWeb uses, as its scripts do.
* TaskWeb does not publish its no-transfer baselines, so `baseline` is NaN. It publishes, per target,
  source and setting (`data/taskweb/taskweb.p`, read with the restricted unpickler), the mean relative
  change over seeds (PC) and the share of seeds that transferred positively (PM): they become
  `mean_relative_gain` (= 100 · PC) and `positive_share` (= PM).

`taskweb_label` is the transfer score TaskWeb ranks sources by; `CATEGORIES` are the target groups of its
single-task selection table, which leaves piqa out (`SELECTION_TARGETS`).
"""

from __future__ import annotations

import json
import math
import os
import re
import reprlib
from pathlib import Path

import numpy as np
import pandas as pd

from intertask.errors import IntertaskError
from intertask.matrix.safe_pickle import load_plain
from intertask.matrix.table import CELL, from_long_table
from intertask.paths import is_input_file

RESULTS = Path("data/taskweb/results")
LABELS = Path("data/taskweb/taskweb.p")
CONFIGS = Path("configs")
RUN = re.compile(r"(?P<setting>.+?)-e(?P<epochs>\d+)-lr(?P<lr>\d+e\d+)-b(?P<batch>\d+)-s(?P<seed>\d+)", re.ASCII)
METRICS = {  # TaskWeb's taskshop/metrics.py: the metrics averaged into a task's score
    "cb": ("accuracy", "f1"), "mrpc": ("accuracy", "f1"), "qqp": ("accuracy", "f1"),
    "squad_v2": ("exact", "f1"), "stsb": ("pearson", "spearmanr"),
}
DEFAULT_METRICS = ("accuracy",)
CATEGORIES = {
    "nli": ("anli_r3", "cb", "qnli", "rte", "snli", "scitail"),
    "paraphrase": ("mrpc", "qqp", "stsb"),
    "commonsense": ("copa", "cosmosqa", "hellaswag", "piqa", "quartz", "socialiqa", "winogrande"),
    "sentiment": ("imdb", "rotten_tomatoes"),
    "qa": ("boolq",),
    "semantics": ("wic", "wsc"),
}
SELECTION_TARGETS = tuple(sorted(t for tasks in CATEGORIES.values() for t in tasks if t != "piqa"))


def taskweb_label(mean_relative_gain, positive_share):
    """TaskWeb's transfer score of a (source, target) cell: 0.5 · PC + 0.5 · (0.2 · PM − 0.1), with PC the
    mean relative change as a fraction (`mean_relative_gain` / 100) and PM the share of positive seeds.

    >>> round(float(taskweb_label(10.0, 1.0)), 3)  # 0.5 · 0.1 + 0.5 · 0.1
    0.1
    """
    return 0.5 * np.asarray(mean_relative_gain, dtype=float) / 100 + 0.5 * (0.2 * np.asarray(positive_share, float) - 0.1)


def category(target: str) -> str:
    """TaskWeb's category of `target`, or "other"."""
    return next((name for name, tasks in CATEGORIES.items() if target in tasks), "other")


MAX_JSON_BYTES = 16 * 2**20  # an eval_results.json or a config holds a few numbers
MAX_SEED = 2**32 - 1  # as `TrainConfig.seed`
CLONE_FIX = "a TaskWeb clone has a JSON or pickle file there"


def _read_json(path: Path):
    """The JSON value in the regular file at `path` (at most `MAX_JSON_BYTES`); anything else is one line."""
    if not is_input_file(path, CLONE_FIX):
        raise IntertaskError(f"{path}: no such file")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise IntertaskError(f"{path} is {path.stat().st_size / 2**20:.0f} MiB; a TaskWeb JSON file is at most "
                             f"{MAX_JSON_BYTES // 2**20} MiB")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise IntertaskError(f"{path}: not a readable JSON file ({err})") from None
    except RecursionError:
        raise IntertaskError(f"{path}: not a readable JSON file (nested too deeply)") from None
    except ValueError as err:  # JSONDecodeError, and integers of more than 4300 digits
        raise IntertaskError(f"{path}: not a readable JSON file ({str(err)[:200]})") from None


def _metric(value, path: Path, key: str) -> float:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    try:
        number = None if isinstance(value, bool) or not isinstance(value, (int, float)) else float(value)
    except OverflowError:  # an integer beyond float's range
        raise IntertaskError(f"{path}: {key} is a {len(str(abs(value)))}-digit integer, not a metric") from None
    if number is None:
        raise IntertaskError(f"{path}: {key} must be a number, got {reprlib.repr(value)}")
    return number / 100 if abs(number) > 1 else number


def _score(path: Path, target: str) -> float:
    """100 × the mean of the target's metrics in the file; NaN for a failed run."""
    results = _read_json(path)
    names = METRICS.get(target, DEFAULT_METRICS)
    keys = [f"eval_{m}" for m in names if isinstance(results, dict) and f"eval_{m}" in results]
    if not keys:
        raise IntertaskError(f"{path}: has none of {', '.join('eval_' + m for m in names)}, the metrics of "
                             f"TaskWeb's {target!r}")
    return 100 * sum(_metric(results[k], path, k) for k in keys) / len(keys)


def _lr(value: float) -> str:
    """A learning rate as TaskWeb writes it in folder names: 3e-05 → "3e5"."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{abs(int(exponent))}"


def _config(root: Path, setting: str, cache: dict) -> dict | None:
    """TaskWeb's hyperparameters per target for `setting` ({target: (epochs, lr, batch)}), None without a file."""
    if setting not in cache:
        model, _, adaptation = setting.partition("-")
        path = root / CONFIGS / f"{model}_{adaptation or 'finetune'}.json"
        raw = _read_json(path) if is_input_file(path, CLONE_FIX) else None
        try:
            cache[setting] = None if raw is None else {
                t: (str(c["epochs"]), _lr(float(c["learning_rate"])), str(c["batch_size"])) for t, c in raw.items()}
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as err:
            raise IntertaskError(f"{path}: not a TaskWeb config of epochs, learning_rate, batch_size per "
                                 f"target ({err})") from None
    return cache[setting]


def _folders(folder: Path) -> list[str]:
    """The names of the sub-folders of `folder`, sorted; a name that is not UTF-8 or an entry that cannot be
    followed (a symlink loop) is one `IntertaskError`."""
    names = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    if not entry.is_dir():
                        continue
                except OSError as err:  # ELOOP: a symlink loop
                    raise IntertaskError(f"{folder / entry.name}: cannot follow it ({err.strerror})") from None
                try:
                    entry.name.encode("utf-8")
                except UnicodeEncodeError:
                    raise IntertaskError(f"{folder}: the folder name {entry.name!r} is not UTF-8; rename it") from None
                names.append(entry.name)
    except OSError as err:
        raise IntertaskError(f"{folder}: cannot list it ({err.strerror})") from None
    return sorted(names)


def _runs(root: Path) -> pd.DataFrame:
    results = root / RESULTS
    if not results.is_dir():
        raise IntertaskError(f"no TaskWeb results under {str(root)!r}: expected {results}/<TARGET>/<SOURCE>/<RUN>/"
                             "eval_results.json (give the root of a clone of github.com/danieljkim0118/TaskWeb)")
    rows = []
    for target in _folders(results):
        for source in _folders(results / target):
            for run in _folders(results / target / source):
                match = RUN.fullmatch(run)
                if match is None:
                    raise IntertaskError(f"{results / target / source / run}: not a TaskWeb run folder "
                                         "(<MODEL>-e<EPOCHS>-lr<LR>-b<BATCH>-s<SEED>)")
                if int(match["seed"]) > MAX_SEED:
                    raise IntertaskError(f"{results / target / source / run}: seed {match['seed']} is not a seed "
                                         f"(at most {MAX_SEED})")
                rows.append({"target": target, "source": source, **match.groupdict(),
                             "path": results / target / source / run / "eval_results.json"})
    if not rows:
        raise IntertaskError(f"{results} holds no <TARGET>/<SOURCE>/<RUN> folders")
    return pd.DataFrame(rows)


def _pick_hyperparameters(root: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """Keep the runs with TaskWeb's hyperparameters; a choice without a config is the user's to make."""
    cache: dict = {}
    keep = []
    for (setting, target, source), part in runs.groupby(CELL, sort=False):
        config = _config(root, setting, cache)
        chosen = config.get(target) if config else None
        if chosen is not None:
            part = part[(part["epochs"] == chosen[0]) & (part["lr"] == chosen[1]) & (part["batch"] == chosen[2])]
        elif part[["epochs", "lr", "batch"]].drop_duplicates().shape[0] > 1:
            sets = sorted({f"e{e}-lr{lr}-b{b}" for e, lr, b in part[["epochs", "lr", "batch"]].itertuples(index=False)})
            raise IntertaskError(f"{root / RESULTS / target / source}: setting {setting!r} was run with "
                                 f"{', '.join(sets)} and no {CONFIGS}/ file of the clone says which TaskWeb used")
        keep.append(part)
    return pd.concat(keep, ignore_index=True)


def _labels(root: Path) -> pd.DataFrame:
    """TaskWeb's PC and PM per target, source and setting from taskweb.p; empty without the file."""
    path = root / LABELS
    columns = CELL + ["mean_relative_gain", "positive_share"]
    if not is_input_file(path, CLONE_FIX):
        return pd.DataFrame(columns=columns)
    expected = "{(target, source): (overall, {(adaptation, model): (PC, PM)})}"
    labels = load_plain(path)
    if not isinstance(labels, dict):
        raise IntertaskError(f"{path}: expected {expected}, found a {type(labels).__name__}")
    rows = []
    for key, value in labels.items():
        try:
            if not isinstance(key, tuple):  # a 2-character string would unpack as well
                raise TypeError(f"the key is a {type(key).__name__}, not a (target, source) tuple")
            (target, source), (_, per_setting) = key, value
            for (adaptation, model), (pc, pm) in per_setting.items():
                setting = model if adaptation == "finetune" else f"{model}-{adaptation}"
                rows.append((setting, str(target), str(source), 100 * float(pc), float(pm)))
        except (TypeError, ValueError, AttributeError, OverflowError) as err:
            raise IntertaskError(f"{path}: expected {expected}, found {reprlib.repr(key)} ({err})") from None
    return pd.DataFrame(rows, columns=columns)


def read_taskweb(clone) -> pd.DataFrame:
    """The transfer matrix (`intertask.matrix.table.COLUMNS`) of the TaskWeb clone at `clone`."""
    root = Path(clone)
    runs = _pick_hyperparameters(root, _runs(root))
    runs["score"] = [_score(path, target) for path, target in zip(runs["path"], runs["target"])]
    runs["score"] = runs["score"].where(runs["score"].map(math.isfinite))  # NaN/inf metrics: a failed run
    matrix = runs[["setting", "target", "source", "seed", "score"]].astype({"seed": int})
    labels = _labels(root)
    matrix = matrix.merge(labels, on=CELL, how="left")
    return from_long_table(matrix, where=str(root / RESULTS))
