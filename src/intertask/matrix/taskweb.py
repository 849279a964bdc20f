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
from pathlib import Path

import numpy as np
import pandas as pd

from intertask.errors import IntertaskError
from intertask.matrix.safe_pickle import load_plain
from intertask.matrix.table import from_long_table

RESULTS = Path("data/taskweb/results")
LABELS = Path("data/taskweb/taskweb.p")
CONFIGS = Path("configs")
RUN = re.compile(r"(?P<setting>.+?)-e(?P<epochs>\d+)-lr(?P<lr>\d+e\d+)-b(?P<batch>\d+)-s(?P<seed>\d+)")
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


def _metric(value, path: Path, key: str) -> float:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise IntertaskError(f"{path}: {key} must be a number, got {value!r}")
    return value / 100 if abs(value) > 1 else float(value)


def _score(path: Path, target: str) -> float:
    """100 × the mean of the target's metrics in the file; NaN for a failed run."""
    try:
        results = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise IntertaskError(f"{path}: not a readable JSON file ({err})") from None
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
        try:
            raw = json.loads(path.read_text()) if path.is_file() else None
            cache[setting] = None if raw is None else {
                t: (str(c["epochs"]), _lr(float(c["learning_rate"])), str(c["batch_size"])) for t, c in raw.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise IntertaskError(f"{path}: not a TaskWeb config of epochs, learning_rate, batch_size per "
                                 f"target ({err})") from None
    return cache[setting]


def _runs(root: Path) -> pd.DataFrame:
    results = root / RESULTS
    if not results.is_dir():
        raise IntertaskError(f"no TaskWeb results under {str(root)!r}: expected {results}/<TARGET>/<SOURCE>/<RUN>/"
                             "eval_results.json (give the root of a clone of github.com/danieljkim0118/TaskWeb)")
    rows = []
    for target in sorted(e.name for e in os.scandir(results) if e.is_dir()):
        for source in sorted(e.name for e in os.scandir(results / target) if e.is_dir()):
            for run in sorted(e.name for e in os.scandir(results / target / source) if e.is_dir()):
                match = RUN.fullmatch(run)
                if match is None:
                    raise IntertaskError(f"{results / target / source / run}: not a TaskWeb run folder "
                                         "(<MODEL>-e<EPOCHS>-lr<LR>-b<BATCH>-s<SEED>)")
                rows.append({"target": target, "source": source, **match.groupdict(),
                             "path": results / target / source / run / "eval_results.json"})
    if not rows:
        raise IntertaskError(f"{results} holds no <TARGET>/<SOURCE>/<RUN> folders")
    return pd.DataFrame(rows)


def _pick_hyperparameters(root: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """Keep the runs with TaskWeb's hyperparameters; a choice without a config is the user's to make."""
    cache: dict = {}
    keep = []
    for (setting, target, source), part in runs.groupby(["setting", "target", "source"], sort=False):
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
    columns = ["setting", "target", "source", "mean_relative_gain", "positive_share"]
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    rows = []
    for key, value in load_plain(path).items():
        try:
            (target, source), (_, per_setting) = key, value
            for (adaptation, model), (pc, pm) in per_setting.items():
                setting = model if adaptation == "finetune" else f"{model}-{adaptation}"
                rows.append((setting, str(target), str(source), 100 * float(pc), float(pm)))
        except (TypeError, ValueError, AttributeError) as err:
            raise IntertaskError(f"{path}: expected {{(target, source): (overall, {{(adaptation, model): (PC, PM)}})}}, "
                                 f"found {key!r} ({err})") from None
    return pd.DataFrame(rows, columns=columns)


def read_taskweb(clone) -> pd.DataFrame:
    """The transfer matrix (`intertask.matrix.table.COLUMNS`) of the TaskWeb clone at `clone`."""
    root = Path(clone)
    runs = _pick_hyperparameters(root, _runs(root))
    runs["score"] = [_score(path, target) for path, target in zip(runs["path"], runs["target"])]
    runs["score"] = runs["score"].where(runs["score"].map(math.isfinite))  # NaN/inf metrics: a failed run
    matrix = runs[["setting", "target", "source", "seed", "score"]].astype({"seed": int})
    labels = _labels(root)
    matrix = matrix.merge(labels, on=["setting", "target", "source"], how="left")
    return from_long_table(matrix, where=str(root / RESULTS))
