"""Evaluate selection methods on a study store: profiles from its runs, truth from its transfers.

`evaluate_store(store)`:

- ground truth: `intertask.study.export.transfer_matrix(store)` (the latest study), one case per
  (target, target seed) with the scores of every source's transfer;
- sources: each source run's trained prompt (`run_artifact(...).prompt`, `[P, H]`) and its task;
- targets, per (target, seed): the baseline run of that target and seed; its snapshot at the
  earliest non-zero step is the "briefly trained target prompt" the prompt methods compare with
  (the run's final, best prompt counts as the snapshot at its last step, `steps`);
- text embeddings: mean sentence embedding of up to `max_texts` training examples, with the
  study's backbone when it is an encoder, else MiniLM; computed once per task per call;
- LogME: the target's sampled examples read by the study's backbone through each source prompt.

Besides each prompt method at the default step, every other snapshot step `s` that all baselines
have (the final prompt counting as step `steps`) is evaluated as `<method>@<s>`, so `quality_by_steps(evaluation)` gives quality vs target steps.

Cost (`cost_seconds` per case): the selector's own scoring time (`Selector.cost_`), plus, for
`text_embedding`, the time spent embedding the target's texts; `target_steps` is the target prompt
training a prompt method needed.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from intertask.errors import IntertaskError, did_you_mean
from intertask.progress import progress_bar
from intertask.selection import PROMPT_METHODS, SELECTORS, make_selector

TEXT_ENCODER = "minilm"


def parse_methods(methods) -> list[tuple[str, str, int | None]]:
    """`[(name, registry method, step or None)]` for `methods` (names or `"a,b"`; None = every
    registered method). `<prompt method>@<step>` pins the target snapshot step."""
    if methods is None:
        methods = SELECTORS
    if isinstance(methods, str):
        methods = methods.split(",")
    names = [str(m).strip() for m in methods if str(m).strip()]
    if not names:
        raise IntertaskError(f"no methods given; choose from {', '.join(SELECTORS)}")
    parsed = []
    for name in dict.fromkeys(names):
        base, at, step = name.partition("@")
        if base not in SELECTORS:
            raise IntertaskError(f"unknown selection method '{base}'{did_you_mean(base, SELECTORS)}; "
                                 f"choose from {', '.join(SELECTORS)}")
        if at and (base not in PROMPT_METHODS or not step.isdigit()):
            raise IntertaskError(f"'{name}': only prompt methods ({', '.join(PROMPT_METHODS)}) take "
                                 "@<snapshot step>, e.g. max_pairwise@20")
        parsed.append((name, base, int(step) if at else None))
    return parsed


def _task_options(store, study: str) -> dict:
    for row in store.studies():
        if row["name"] == study:
            try:
                return json.loads(row["config_json"]).get("task_options") or {}
            except (json.JSONDecodeError, AttributeError):
                return {}
    return {}


def _ground_truth(store, seeds, study: str | None) -> pd.DataFrame:
    from intertask.study.export import transfer_matrix

    if not store.exists():
        raise IntertaskError(f"no study store at {str(store.path)!r}; run `intertask study run CONFIG "
                             f"--store {store.path}` first")
    matrix = transfer_matrix(store, study)
    if matrix.empty:
        names = ", ".join(s["name"] for s in store.studies())
        raise IntertaskError(f"study {study or store.latest_study()!r} in store {str(store.path)!r} has no finished "
                             f"transfer runs to evaluate against; finish it with `intertask study run CONFIG "
                             f"--store {store.path}`, or choose another study with --study (the store holds: {names})")
    # one source seed per (target, seed, source): the lowest, so the matrix has one row per source
    matrix = matrix[matrix["source_seed"] == matrix.groupby("source")["source_seed"].transform("min")]
    if seeds is not None:
        seeds = [int(s) for s in seeds]
        matrix = matrix[matrix["seed"].isin(seeds)]
        if matrix.empty:
            raise IntertaskError(f"store {str(store.path)!r} has no finished transfers with target seed(s) "
                                 f"{seeds}; leave --seeds out or pick seeds the study ran")
    return matrix.reset_index(drop=True)


def evaluate_store(store, methods=None, k: int = 3, seeds=None, max_texts: int = 256,
                   progress: bool = True, n_boot: int = 2000, snapshot_curve: bool = True,
                   device: str = "cpu", study: str | None = None):
    """Evaluate `methods` (default: every registered one) on the study in `store` (a `Store` or path).

    Returns an `intertask.evaluation.evaluate.Evaluation` (k for Regret@k and top-k, `n_boot`
    bootstrap resamples, `tags` of the targets); `config` also records the backbone, text encoder and default snapshot step.
    `snapshot_curve` adds `<prompt method>@<step>` for every other snapshot step of the baselines.
    `study` names the store's study to evaluate (default: the latest run).
    """
    from intertask.backbones import load_backbone
    from intertask.evaluation.evaluate import evaluate_predictions, prediction_rows
    from intertask.evaluation.ranking import _check_k
    from intertask.selection.profiles import prompt_array, task_profile
    from intertask.study.export import run_artifact, run_table
    from intertask.tasks.registry import load_task
    from intertask.study.store import Store

    store = store if isinstance(store, Store) else Store(Path(store))
    parsed = parse_methods(methods)
    _check_k(k)
    matrix = _ground_truth(store, seeds, study)
    study = study or store.latest_study()
    runs = run_table(store, study)
    runs = runs[runs["finished"]]
    options = _task_options(store, study)
    names = sorted(runs["backbone"].unique())
    if len(names) != 1:
        raise IntertaskError(f"store {str(store.path)!r} mixes backbones {', '.join(names)}; evaluate one at a time")

    sources = {(r.task, int(r.seed)): r.run_id for r in runs[runs["kind"] == "source"].itertuples()}
    baselines = {(r.task, int(r.seed)): r for r in runs[runs["kind"] == "baseline"].itertuples()}
    cases = sorted({(t, int(s)) for t, s in zip(matrix["target"], matrix["seed"])})
    missing = [c for c in cases if c not in baselines]
    if missing:
        raise IntertaskError(f"target '{missing[0][0]}' seed {missing[0][1]} has transfers but no finished "
                             "baseline run; run `intertask study run` to finish the study")
    prompts, steps_seen = {}, []
    for target, seed in cases:
        row = baselines[(target, seed)]
        artifact = run_artifact(store, row.run_id)
        snapshots = {int(s): prompt_array(p) for s, p in artifact.snapshots.items()}
        final = int(row.steps or 0)  # the run's best prompt, after all its training steps, ends the curve
        if final > 0 and final not in snapshots:
            snapshots[final] = prompt_array(artifact.prompt)
        nonzero = sorted(s for s in snapshots if s > 0)
        if nonzero:
            prompt, steps = snapshots[nonzero[0]], nonzero[0]
        else:  # no snapshot and no training steps: the untrained prompt
            prompt, steps = prompt_array(artifact.prompt), 0
        steps_seen.append(set(snapshots))
        prompts[(target, seed)] = (prompt, snapshots, steps)
        for name, _, step in parsed:
            if step is not None and step not in snapshots:
                raise IntertaskError(f"'{name}': baseline of target '{target}' seed {seed} has snapshots "
                                     f"at {sorted(snapshots) or 'no steps'}, not {step}")
    backbone = load_backbone(names[0], device=device)  # slow for real models: after every cheap check
    encoder = backbone if backbone.kind == "encoder" else load_backbone(TEXT_ENCODER, device=device)
    tasks = sorted(set(matrix["source"]) | set(matrix["target"]))
    with progress_bar(progress) as report:
        tick = report or (lambda event, done, total: None)
        profiles, embed_seconds = {}, {}
        for i, name in enumerate(tasks):  # one text embedding per task, shared by its source and target roles
            tick("task profiles", i + 1, len(tasks))
            start = time.perf_counter()
            profiles[name] = task_profile(load_task(name, options.get(name)), backbone, text_backbone=encoder,
                                          max_texts=max_texts, seed=0)
            embed_seconds[name] = time.perf_counter() - start
        source_seed = matrix.groupby("source")["source_seed"].first()
        source_profiles = {}
        for name in sorted(set(matrix["source"])):
            key = (name, int(source_seed[name]))
            if key not in sources:
                raise IntertaskError(f"source '{name}' seed {key[1]} has transfers but no finished source run")
            source_profiles[name] = replace(profiles[name], prompt=prompt_array(run_artifact(store, sources[key]).prompt))
        targets = {case: replace(profiles[case[0]], prompt=prompt, snapshots=snapshots, prompt_steps=steps)
                   for case, (prompt, snapshots, steps) in prompts.items()}
        default_steps = sorted({p.prompt_steps for p in targets.values()})
        if snapshot_curve:
            extra = [(f"{name}@{s}", base, s) for name, base, step in parsed
                     if base in PROMPT_METHODS and step is None for s in sorted(set.intersection(*steps_seen))
                     if s not in default_steps]
            parsed = parsed + [e for e in extra if e[0] not in {p[0] for p in parsed}]

        frames = []
        for m, (name, base, step) in enumerate(parsed):
            params = {"step": step} if step is not None else {}
            fitted = {}
            tick("selectors", m + 1, len(parsed))
            for target, seed in cases:
                pool = tuple(sorted(matrix.loc[(matrix["target"] == target) & (matrix["seed"] == seed), "source"]))
                if pool not in fitted:
                    fitted[pool] = make_selector(base, **params).fit([source_profiles[s] for s in pool])
                rows = prediction_rows(fitted[pool], targets[(target, seed)], seed, method=name)
                if base == "text_embedding":
                    rows["cost_seconds"] += embed_seconds[target]
                frames.append(rows)
    truth = matrix[["target", "source", "seed", "score", "baseline", "gain", "relative_gain"]]
    tags = {t: tuple(profiles[t].tags) for t in sorted(set(matrix["target"]))}
    evaluation = evaluate_predictions(truth, pd.concat(frames, ignore_index=True), k=k, tags=tags, n_boot=n_boot)
    evaluation.config.update(store=str(store.path), study=study, backbone=names[0], text_encoder=encoder.name,
                             default_target_steps=default_steps, max_texts=max_texts,
                             methods=[p[0] for p in parsed])
    return evaluation
