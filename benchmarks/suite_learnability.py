"""Learnability of each offline-suite task: a linear probe on frozen all-MiniLM-L6-v2 features vs its floor.

Usage: nice -n 10 python benchmarks/suite_learnability.py [--tasks NAME ...] [--force]
                                                        [--out src/intertask/tasks/suite_learnability.json]
       python benchmarks/suite_learnability.py --table    # print the recorded results as a Markdown table

Per task (the converted suite split, `intertask tasks prepare` first):
- features: mean-pooled MiniLM hidden states of each text, no prompt, max_length 64 (the library
  protocol's length), of at most `--max-train` training and `--max-test` test examples (seeded sample);
  multiple choice: one feature row per (text, choice) pair, as the trainer pairs them, and caps
  scaled by 2/k for k choices (a binary task's cost);
- probe: scikit-learn `LogisticRegression` on standardised features, its inverse regularisation C
  picked from (0.01, 0.1, 1) on at most `--max-train // 4` validation examples. Classification: one
  multinomial probe over the labels. Multiple choice: one binary probe (right vs wrong choice) on
  the pair rows; an example's prediction is its highest-scoring choice;
- score: the task's main metric on the test sample; floor = `floor_score` of that metric on the same
  test labels (best constant prediction; multiple choice: best constant choice position);
  learned = score >= floor + `LEARNED_MARGIN` (5 points).

Results go to `--out` (JSON, sorted keys) after each task, so a killed run resumes where it
stopped; a task already there with the same data (sha256 of its converted split files) is skipped
unless `--force`. The file records how it was measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from intertask.backbones import load_backbone
from intertask.tasks.metrics import LEARNED_MARGIN, compute_metrics, floor_score, learned
from intertask.tasks.suite import LEARNABILITY_FILE, SUITE_NAMES, SUITE_VERSION, load_suite_task, prepare_suite, suite_dir
from intertask.tasks.task import TaskKind

C_GRID = (0.01, 0.1, 1.0)


def _sample(examples: list, cap: int, seed: int) -> list:
    if len(examples) <= cap:
        return examples
    return [examples[i] for i in sorted(random.Random(seed).sample(range(len(examples)), cap))]


def _rows(task, examples: list) -> tuple[list[str], list[str | None]]:
    """The texts (and pair texts) the probe reads: one per example, or one per (example, choice)."""
    if task.kind is TaskKind.MULTIPLE_CHOICE:
        texts = [ex.text for ex in examples for _ in ex.choices]
        pairs = [c for ex in examples for c in ex.choices]
        return texts, pairs
    return [ex.text for ex in examples], [ex.text_pair for ex in examples]


def _features(backbone, task, examples: list, max_length: int) -> np.ndarray:
    texts, pairs = _rows(task, examples)
    return backbone.features(texts, text_pairs=pairs if any(p is not None for p in pairs) else None,
                             max_length=max_length)


def _predict(task, model, scaler, feats: np.ndarray, examples: list) -> list[int]:
    x = scaler.transform(feats)
    if task.kind is not TaskKind.MULTIPLE_CHOICE:
        return [int(c) for c in model.predict(x)]
    scores = model.decision_function(x)
    out, start = [], 0
    for ex in examples:
        out.append(int(np.argmax(scores[start:start + len(ex.choices)])))
        start += len(ex.choices)
    return out


def _targets(task, examples: list) -> np.ndarray:
    if task.kind is not TaskKind.MULTIPLE_CHOICE:
        return np.array([ex.label for ex in examples])
    return np.array([int(i == ex.label) for ex in examples for i in range(len(ex.choices))])


def measure(backbone, name: str, max_train: int, max_test: int, max_length: int) -> dict:
    """Probe score, floor and sizes of suite task `name` (see the module docstring)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    task = load_suite_task(name, progress=False)
    # multiple choice reads one row per choice: caps count rows, so a k-choice task gets 2/k as many examples
    per_row = 1.0 if task.kind is not TaskKind.MULTIPLE_CHOICE else 2 / np.mean([len(ex.choices) for ex in task.train])
    train = _sample(task.train, max(int(max_train * per_row), 50), 0)
    validation = _sample(task.validation, max(int(max_train * per_row) // 4, 25), 1)
    test = _sample(task.test, max(int(max_test * per_row), 50), 2)
    start = time.perf_counter()
    feats = {split: _features(backbone, task, rows, max_length)
             for split, rows in (("train", train), ("validation", validation), ("test", test))}
    seconds = time.perf_counter() - start
    scaler = StandardScaler().fit(feats["train"])
    metric = task.main_metric
    best = None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(feats["train"]), _targets(task, train))
        gold = [ex.label for ex in validation]
        score = compute_metrics([metric], gold, _predict(task, model, scaler, feats["validation"], validation))[metric]
        if best is None or score > best[0]:
            best = (score, c, model)
    _, c, model = best
    gold = [ex.label for ex in test]
    probe = compute_metrics([metric], gold, _predict(task, model, scaler, feats["test"], test))[metric]
    choices = max(len(ex.choices) for ex in test) if task.kind is TaskKind.MULTIPLE_CHOICE else task.num_labels
    floor = floor_score(metric, gold, choices)
    return {"metric": metric, "probe_score": round(probe, 2), "floor": round(floor, 2),
            "learned": learned(probe, floor), "C": c, "kind": task.kind.value,
            "n_train": len(train), "n_validation": len(validation), "n_test": len(test),
            "feature_seconds": round(seconds, 1)}


def data_digest(name: str) -> str:
    """sha256 of the converted split files of suite task `name` (what the probe reads)."""
    digest = hashlib.sha256()
    for split in ("train", "validation", "test"):
        digest.update((suite_dir() / name / f"{split}.jsonl").read_bytes())
    return digest.hexdigest()


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".learnability-", suffix=".json", delete=False) as tmp:
        json.dump(data, tmp, indent=1, sort_keys=True)
        tmp.write("\n")
    os.replace(tmp.name, path)


def print_table(data: dict) -> None:
    """The recorded rows as Markdown: task, role, kind, tags, metric, probe, floor, margin, learned, n."""
    from intertask.tasks.suite import SUITE

    print("| task | role | kind | tags | metric | probe | floor | probe − floor | learned | n train / test |")
    print("|---|---|---|---|---|---:|---:|---:|---|---|")
    for name, row in sorted(data["tasks"].items(), key=lambda kv: (SUITE[kv[0]].role, kv[0]) if kv[0] in SUITE else ("?", kv[0])):
        spec = SUITE.get(name)
        print(f"| {name} | {spec.role if spec else '-'} | {row['kind'].replace('_', ' ')} | "
              f"{', '.join(spec.tags) if spec else '-'} | {row['metric']} | {row['probe_score']:.1f} | "
              f"{row['floor']:.1f} | {row['probe_score'] - row['floor']:+.1f} | {'yes' if row['learned'] else 'no'} | "
              f"{row['n_train']} / {row['n_test']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(SUITE_NAMES))
    parser.add_argument("--out", type=Path, default=LEARNABILITY_FILE)
    parser.add_argument("--max-train", type=int, default=400)
    parser.add_argument("--max-test", type=int, default=300)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--force", action="store_true", help="measure tasks already in --out again")
    parser.add_argument("--table", action="store_true", help="print --out as a Markdown table and stop")
    args = parser.parse_args()
    if args.table:
        print_table(json.loads(args.out.read_text()))
        return

    method = (f"linear probe (LogisticRegression, C in {list(C_GRID)} picked on validation) on standardised, "
              f"mean-pooled all-MiniLM-L6-v2 features (no prompt, max_length {args.max_length}) of a seeded sample "
              f"of the suite {SUITE_VERSION} task (sizes per task: n_train / n_validation / n_test); multiple choice: "
              f"a binary probe on (text, choice) pairs, argmax per example, sample caps times 2/k for k choices; "
              f"floor = best constant prediction on the same test labels; learned = probe >= floor + {LEARNED_MARGIN:g}")
    data = json.loads(args.out.read_text()) if args.out.exists() else {"tasks": {}}
    if data.get("method") not in (None, method):
        data = {"tasks": {}}  # measured another way: start over
    data["method"] = method
    prepare_suite(args.tasks, progress=False)
    data["tasks"] = {n: row for n, row in data["tasks"].items() if n in SUITE_NAMES}  # tasks since dropped go
    backbone = load_backbone("minilm")
    for name in args.tasks:
        digest = data_digest(name)
        if data["tasks"].get(name, {}).get("data_sha256") == digest and not args.force:
            continue
        row = {**measure(backbone, name, args.max_train, args.max_test, args.max_length), "data_sha256": digest}
        data["tasks"][name] = row
        _write(args.out, data)
        print(f"{name:40s} {row['metric']:9s} probe {row['probe_score']:6.2f}  floor {row['floor']:6.2f}  "
              f"{'learned' if row['learned'] else 'NOT LEARNED'}  (train {row['n_train']}, test {row['n_test']}, "
              f"features {row['feature_seconds']} s)", flush=True)


if __name__ == "__main__":
    main()
