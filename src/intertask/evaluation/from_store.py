"""Predictions from a study store: every selector's scores, computed from the study's own runs.

`predictions_from_store(view)` reads what a study (`intertask.study.export.read_study`) trained, for the
cases of its transfer matrix (`StudyView.matrix`, one case per (target, target seed) whose baseline
learned, one source seed per source), and `intertask.evaluation.evaluate.evaluate` scores them:

- sources: each source run's trained prompt (`StudyView.artifact(run_id).prompt`, `[P, H]`) and its task;
- targets, per (target, seed): the baseline run of that target and seed; its snapshot at the
  earliest non-zero step is the "briefly trained target prompt" the prompt methods compare with
  (the run's final, best prompt counts as the snapshot at its last step, `steps`);
- text embeddings: mean sentence embedding of up to `max_texts` training examples (default
  `selection.profiles.profile_texts`: more than the backbone's features, so LogME has N > D), with the
  study's backbone when it is an encoder, else MiniLM; computed once per task per call;
- LogME: the target's sampled examples read by the study's backbone through each source prompt.
- ESM-LogME: the target's base features carried by each source's map, fitted on the source's own
  examples (base features against those read through its prompt).

Besides each prompt method at the default step, every other snapshot step `s` that all baselines
have (the final prompt counting as step `steps`) is evaluated as `<method>@<s>`, so `quality_by_steps(evaluation)` gives quality vs target steps.

Cost (`cost_seconds` per case): the selector's own scoring time (`Selector.cost_`), plus, for
`text_embedding`, the time spent embedding the target's texts; `target_steps` is the target prompt
training a prompt method needed.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd

from intertask.backbones import load_backbone
from intertask.errors import IntertaskError
from intertask.evaluation.evaluate import Predictions, prediction_rows
from intertask.matrix.transfer import TransferMatrix
from intertask.progress import progress_bar
from intertask.selection import PROMPT_METHODS, SELECTORS, check_method, make_selector
from intertask.selection.profiles import profile_texts, prompt_array, task_profile
from intertask.study.export import StudyView
from intertask.tasks.registry import load_task

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
        check_method(base)
        if at and (base not in PROMPT_METHODS or not step.isdigit()):
            raise IntertaskError(f"'{name}': only prompt methods ({', '.join(PROMPT_METHODS)}) take "
                                 "@<snapshot step>, e.g. max_pairwise@20")
        parsed.append((name, base, int(step) if at else None))
    return parsed


def _truth(view: StudyView, matrix: TransferMatrix) -> pd.DataFrame:
    """The rows of `matrix` (of `view`) that predictions are needed for: one source seed per source, the
    cases whose baseline learned (the door, `evaluate`, applies the same two views); each with its baseline."""
    store = view.store
    if len(matrix) == 0:
        names = ", ".join(s["name"] for s in store.studies())
        raise IntertaskError(f"study {view.name!r} in store {str(store.path)!r} has no finished "
                             f"transfer runs to evaluate against; finish it with `intertask study run CONFIG "
                             f"--store {store.path}`, or choose another study (the store holds: {names})")
    frame = matrix.frame
    missing = frame[frame["baseline"].isna()]
    if len(missing):
        raise IntertaskError(f"target '{missing['target'].iloc[0]}' seed {missing['seed'].iloc[0]} has transfers but "
                             "no finished baseline run; run `intertask study run` to finish the study")
    return matrix.ground_truth().frame


def _target_prompts(view: StudyView, runs: pd.DataFrame, cases, parsed) -> dict:
    """`{(target, seed): (prompt, snapshots, steps)}` from each case's baseline run: the snapshot at
    the earliest non-zero step (the run's best prompt counts as the snapshot at its last step)."""
    baselines = {(r.task, int(r.seed)): r for r in runs[runs["kind"] == "baseline"].itertuples()}
    prompts = {}
    for target, seed in cases:
        row = baselines[(target, seed)]
        artifact = view.artifact(row.run_id)
        snapshots = {int(s): prompt_array(p) for s, p in artifact.snapshots.items()}
        final = int(row.steps or 0)  # the run's best prompt, after all its training steps, ends the curve
        if final > 0 and final not in snapshots:
            snapshots[final] = prompt_array(artifact.prompt)
        steps = min((s for s in snapshots if s > 0), default=0)  # 0: never trained, the untrained prompt
        prompt = snapshots[steps] if steps else prompt_array(artifact.prompt)
        prompts[(target, seed)] = (prompt, snapshots, steps)
        for name, _, step in parsed:
            if step is not None and step not in snapshots:
                raise IntertaskError(f"'{name}': baseline of target '{target}' seed {seed} has snapshots "
                                     f"at {sorted(snapshots) or 'no steps'}, not {step}")
    return prompts


def _source_prompts(view: StudyView, runs: pd.DataFrame, matrix: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each source's trained prompt `[P, H]`, from its run with the matrix's source seed."""
    sources = {(r.task, int(r.seed)): r.run_id for r in runs[runs["kind"] == "source"].itertuples()}
    source_seed = matrix.groupby("source")["source_seed"].first()
    prompts = {}
    for name in sorted(set(matrix["source"])):
        key = (name, int(source_seed[name]))
        if key not in sources:
            raise IntertaskError(f"source '{name}' seed {key[1]} has transfers but no finished source run")
        prompts[name] = prompt_array(view.artifact(sources[key]).prompt)
    return prompts


def _snapshot_methods(parsed, target_prompts: dict, default_steps: list[int]) -> list:
    """`<prompt method>@<step>` for every snapshot step all baselines share besides the default ones."""
    shared = set.intersection(*(set(snapshots) for _, snapshots, _ in target_prompts.values()))
    extra = [(f"{name}@{s}", base, s) for name, base, step in parsed
             if base in PROMPT_METHODS and step is None for s in sorted(shared) if s not in default_steps]
    seen = {p[0] for p in parsed}
    return [e for e in extra if e[0] not in seen]


def predictions_from_store(view: StudyView, matrix: TransferMatrix | None = None, methods=None,
                           max_texts: int | None = None, progress: bool = True, snapshot_curve: bool = True,
                           device: str = "cpu") -> Predictions:
    """Every method's predictions for the cases of `matrix` (default: the study's, `view.matrix`; pass
    `view.matrix.select(seeds=...)` for some seeds), computed from the study's runs (module docstring).

    `methods`: names or `"a,b"` (default: every registered one; `<prompt method>@<step>` pins a snapshot
    step); `snapshot_curve` adds `<prompt method>@<step>` for every other snapshot step of the baselines.
    The predictions carry the targets' tags and text embeddings, and in `config` the store, study,
    backbone, text encoder, default snapshot steps, `max_texts` and the methods.
    """
    parsed = parse_methods(methods)
    matrix = view.matrix if matrix is None else matrix
    truth = _truth(view, matrix)
    runs = view.runs[view.runs["finished"]]
    names = sorted(runs["backbone"].unique())
    if len(names) != 1:
        raise IntertaskError(f"store {str(view.store.path)!r} mixes backbones {', '.join(names)}; "
                             "evaluate one at a time")
    cases = sorted({(t, int(s)) for t, s in zip(truth["target"], truth["seed"])})
    target_prompts = _target_prompts(view, runs, cases, parsed)
    source_prompts = _source_prompts(view, runs, truth)
    backbone = load_backbone(names[0], device=device)  # slow for real models: after every cheap check
    encoder = backbone if backbone.kind == "encoder" else load_backbone(TEXT_ENCODER, device=device)
    tasks = sorted(set(truth["source"]) | set(truth["target"]))
    with progress_bar(progress) as report:
        tick = report or (lambda event, done, total: None)
        profiles, embed_seconds = {}, {}
        for i, name in enumerate(tasks):  # one text embedding per task, shared by its source and target roles
            tick("task profiles", i + 1, len(tasks))
            start = time.perf_counter()
            profiles[name] = task_profile(load_task(name, view.task_options.get(name)), backbone,
                                          text_backbone=encoder, max_texts=max_texts, seed=0)
            embed_seconds[name] = time.perf_counter() - start
        sources = {name: replace(profiles[name], prompt=prompt) for name, prompt in source_prompts.items()}
        targets = {case: replace(profiles[case[0]], prompt=prompt, snapshots=snapshots, prompt_steps=steps)
                   for case, (prompt, snapshots, steps) in target_prompts.items()}
        default_steps = sorted({p.prompt_steps for p in targets.values()})
        if snapshot_curve:
            parsed = parsed + _snapshot_methods(parsed, target_prompts, default_steps)
        frames = []
        for m, (name, base, step) in enumerate(parsed):
            tick("selectors", m + 1, len(parsed))
            fitted = {}
            for target, seed in cases:
                pool = tuple(sorted(truth.loc[(truth["target"] == target) & (truth["seed"] == seed), "source"]))
                if pool not in fitted:
                    params = {"step": step} if step is not None else {}
                    fitted[pool] = make_selector(base, **params).fit([sources[s] for s in pool])
                rows = prediction_rows(fitted[pool], targets[(target, seed)], seed, method=name)
                if base == "text_embedding":
                    rows["cost_seconds"] += embed_seconds[target]
                frames.append(rows)
    evaluated = sorted(set(truth["target"]))
    return Predictions(
        pd.concat(frames, ignore_index=True), tags={t: tuple(profiles[t].tags) for t in evaluated},
        embeddings={t: profiles[t].text_embedding for t in evaluated},
        config=dict(store=str(view.store.path), study=view.name, backbone=names[0], text_encoder=encoder.name,
                    default_target_steps=default_steps,
                    max_texts=max_texts or profile_texts(backbone.hidden_size), methods=[p[0] for p in parsed]))
