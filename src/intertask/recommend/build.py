"""`build_library`: a source library from a study store, or from a study config run first.

From a store (each of its studies read once, `read_study`): every finished `source` run becomes
one prompt of its source (one per source seed); the sources' text-embedding centroids,
vocabularies and embedding space maps (ESM-LogME) are computed from their tasks (resolved by name
with the studies' task options); finished transfers (the studies' transfer matrices) become the
history, and each historical target's centroid is computed when its task loads.
From a TOML config: the study is run first (`run_study`) into `store_path` (default
`<out_dir>/.store`, kept across rebuilds so an interrupted build resumes).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from intertask import __version__
from intertask.backbones import load_backbone
from intertask.errors import IntertaskError
from intertask.paths import utc_now
from intertask.recommend.esm_maps import source_esm_map
from intertask.recommend.library import (HISTORY_COLUMNS, TRAINING_FIELDS, Library, LibrarySource,
                                         check_library_out, vocabulary_counts, write_library)
from intertask.selection.profiles import example_text, mean_embedding, prompt_array, sample_examples
from intertask.study.config import StudyConfig, resolve_train_config
from intertask.study.export import read_study
from intertask.study.runner import run_study
from intertask.study.store import Store
from intertask.tasks.registry import load_task

log = logging.getLogger(__name__)
MAX_EMBED_TEXTS = 512


def _centroid(task, backbone) -> np.ndarray:
    examples = sample_examples(task, max_texts=MAX_EMBED_TEXTS, seed=0)
    return mean_embedding(backbone, [example_text(ex) for ex in examples])


def _target_training(store: Store, source_row: dict) -> dict:
    """The `TRAINING_FIELDS` settings of the latest study's target phase (what its baselines and
    transfers trained with), for recommend's own target runs; the source run's settings when the
    store holds no readable study config."""
    try:
        config = StudyConfig.from_json(store.studies()[-1]["config_json"])
        settings = resolve_train_config(config, config.target_training, seed=0, snapshots=False).to_dict()
    except (IndexError, KeyError, ValueError, IntertaskError):
        settings = json.loads(source_row.get("config_json") or "{}")
    return {k: settings[k] for k in TRAINING_FIELDS if k in settings}


def library_from_store(store_path, backbone=None, device: str = "cpu") -> Library:
    """Collect a `Library` (not yet written) from the study store at `store_path`."""
    views = [read_study(store_path, s["name"]) for s in Store(store_path).studies()]  # each read once
    options, where, rows = {}, {}, {}
    for view in views:  # later studies win
        options.update(view.task_options)
        for row in view.runs[view.runs["finished"] & (view.runs["kind"] == "source")].to_dict(orient="records"):
            where[row["run_id"]], rows[row["run_id"]] = view, row
    rows = list(rows.values())
    if not rows:
        raise IntertaskError(f"store {str(store_path)!r} holds no finished source runs; run the study first "
                             "(`intertask study run CONFIG --store PATH`)")
    backbones = sorted({r["backbone"] for r in rows})
    if len(backbones) != 1:
        raise IntertaskError(f"store {str(store_path)!r} mixes backbones {', '.join(backbones)}; "
                             "a library belongs to one backbone")
    if backbone is None:
        backbone = load_backbone(backbones[0], device=device)
    by_task: dict[str, list[dict]] = {}
    for row in rows:
        by_task.setdefault(row["task"], []).append(row)
    sources, shape = [], None
    for name in sorted(by_task):
        task = load_task(name, options.get(name))
        prompts = {int(r["seed"]): prompt_array(where[r["run_id"]].artifact(r["run_id"]).prompt)
                   for r in by_task[name]}
        scores = {int(r["seed"]): float(r["validation_score"]) for r in by_task[name]}
        shapes = {p.shape for p in prompts.values()} | ({shape} if shape else set())
        if len(shapes) != 1:
            raise IntertaskError(f"store {str(store_path)!r}: source prompts differ in shape {sorted(shapes)}; "
                                 "build the library from runs with one prompt length")
        shape = next(iter(shapes))
        sources.append(LibrarySource(
            name=name, n_train=len(task.train), tags=tuple(task.tags), prompts=prompts, scores=scores,
            text_embedding=_centroid(task, backbone),
            vocabulary=vocabulary_counts(example_text(ex) for ex in task.train)))
        sources[-1].esm_map = source_esm_map(task, backbone, sources[-1].prompt)
    history = pd.DataFrame(columns=HISTORY_COLUMNS)
    targets = {}
    if any(not view.matrix.empty for view in views):
        matrix = pd.concat([view.matrix for view in views], ignore_index=True)
        keys = [c for c in ("target", "source", "seed", "source_seed") if c in matrix]
        matrix = matrix.drop_duplicates(keys)
        matrix = matrix[matrix["source"].isin(by_task) & matrix["gain"].notna()]
        not_learned = matrix[~matrix["baseline_learned"]]  # no transfer is measured where the baseline learned nothing
        if len(not_learned):
            cases = not_learned[["target", "seed"]].drop_duplicates()
            log.warning("history leaves out %d (target, seed) case(s) whose baseline did not clear its floor: %s",
                        len(cases), ", ".join(f"{t}/{s}" for t, s in cases.itertuples(index=False)))
        history = matrix[matrix["baseline_learned"]][HISTORY_COLUMNS].reset_index(drop=True)
        for name in sorted(history["target"].unique()):
            try:
                targets[name] = _centroid(load_task(name, options.get(name)), backbone)
            except IntertaskError as err:
                log.warning("no text-embedding centroid for historical target %s: %s", name, err)
    training = _target_training(Store(store_path), rows[0])
    return Library(backbone={"name": backbones[0], "hidden_size": int(shape[1]), "prompt_length": int(shape[0])},
                   sources=sources, history=history, target_embeddings=targets, training=training,
                   created_at=utc_now(),
                   intertask_version=__version__)


def build_library(store_path_or_config, out_dir, store_path=None, device: str = "cpu", progress=True,
                  backbone=None, with_history: bool = False) -> Path:
    """Build the library at `out_dir` from a study store directory, or from a study TOML config.

    With a config (a `.toml` path or a `StudyConfig`), its source runs are trained first into
    `store_path` (default `<out_dir>/.store`; finished runs are reused), as study
    `<name>-sources`; `with_history=True` runs the whole study instead (baselines and transfers
    too), so the library also carries historical gains. Returns `out_dir`; nothing is written to
    `out_dir` on error.
    """
    check_library_out(Path(out_dir))  # before any training: a bad --out must not cost a study
    source = store_path_or_config
    if isinstance(source, StudyConfig) or (isinstance(source, (str, Path)) and Path(source).suffix == ".toml"):
        config = source if isinstance(source, StudyConfig) else StudyConfig.from_toml(source)
        if not with_history:
            config = dataclasses.replace(config, name=f"{config.name}-sources", targets=(), task_options={
                k: v for k, v in config.task_options.items() if k in config.sources})
        store = Path(store_path) if store_path else Path(out_dir) / ".store"
        run_study(config, store, progress=progress)
        source = store
    elif not Path(source).is_dir():
        raise IntertaskError(f"{str(source)!r} is neither a study config (.toml) nor a study store directory")
    library = library_from_store(source, backbone=backbone, device=device)
    return write_library(library, out_dir)
