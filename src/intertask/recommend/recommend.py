"""`recommend()`: rank a library's source tasks for a new target, and say how far to trust it.

Steps, top to bottom:

1. **target** — resolve the spec (`get_task`) and check it: ≥ `MIN_EXAMPLES` labelled examples,
   ≥ 2 labels, non-empty texts. Nothing is written for a bad target. A library source with the
   target's own name is left out of the ranking. The leak check (`recommend.leakage.check_target`)
   finds sources that share texts with the target; each is marked (`leak_share`) and warned about.
2. **short target runs** — prompt-tune the target for `budget_steps` steps over `seeds` seeds,
   packed into one `train_packed` call; each seed's best prompt becomes a target profile. The runs
   (and `verify_k`'s) read about `MAX_RUN_TRAIN` training examples, a stratified sample: 16 steps
   see a few hundred, and the probe head would otherwise read every one (a 100,000-row target took
   minutes and GBs for a ranking a 1,000-row one gets in seconds). The profiles (`data_size`'s
   count included) still see the whole train split.
3. **scores** — every applicable selector (`methods`) scores every library source; the prompt
   methods once per target seed, the others once.
4. **aggregate** — rank aggregation (`intertask.recommend.ranking`): mean rank per method over
   seeds, then mean over methods; `random` is reported as a reference but not aggregated. When
   the library carries a rule chosen on held-out history targets (`intertask.recommend.rule`:
   the mean rank, the expected gain, a learned combination or one selector), that rule orders
   the sources instead; `stats["rule"]` names the rule that ranked, `stats["combination"]` why.
5. **trust** — agreement between methods, stability across seeds, expected gain and chance of
   negative transfer from the library's history, and the verdict (`verdict.make_verdict`).
6. **verify** (optional, `verify_k > 0`) — real transfers of the top K sources
   (`intertask.recommend.verify`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from intertask.backbones import load_backbone, resolve_device
from intertask.errors import IntertaskError
from intertask.progress import progress_bar
from intertask.recommend import ranking as rk
from intertask.recommend.leakage import check_target, has_fingerprints
from intertask.recommend.library import Library, default_library_dir, load_library
from intertask.recommend.rule import LEARNED, history_signal, order_scores
from intertask.recommend.target_runs import DEFAULT_BUDGET_STEPS, target_config
from intertask.recommend.verdict import Evidence, Verdict, make_verdict
from intertask.recommend.verify import verify_sources
from intertask.selection import PROMPT_METHODS, REFERENCE_METHODS, make_selector, methods_for
from intertask.selection.profiles import prompt_array, task_profile
from intertask.selection.text_embedding import cosine_scores
from intertask.tasks.loaders import stratified_sample
from intertask.tasks.metrics import learned
from intertask.tasks.registry import get_task
from intertask.tasks.task import Task, TaskKind
from intertask.training import RunSpec, train_packed

MIN_EXAMPLES = 20
MAX_RUN_TRAIN = 2000  # train examples of the short target runs (16 steps × 16 see 256; the probe reads them all)


@dataclass
class Recommendation:
    """The result of `recommend()`: a ranking of library sources and how far to trust it.

    `ranking` has one row per source, best first: `source, combined_rank, mean_rank,
    learned_score` (only when the learned combination orders the sources), `score_<method>`
    (mean over target seeds), `method_topk` (share of methods with the source in their top k,
    `stats["top_k"]`, 3 for 9+ sources), `stability` (share of target seeds with it in the top
    k), `similarity` (text-embedding cosine to the target), `leak_share` (share of the target's
    texts found in the source, exactly or as near duplicates; NaN when the library has no text
    fingerprints), `expected_gain`, `p_negative` (NaN without history).
    `stats` holds the overall numbers, `verdict` the plain verdict, `verify` the verification
    table (or None) and `choice` its final choice.
    """

    target: str
    library: str
    backbone: str
    methods: list[str]
    seeds: list[int]
    budget_steps: int
    ranking: pd.DataFrame
    verdict: Verdict
    stats: dict = field(default_factory=dict)
    verify: pd.DataFrame | None = None
    choice: str | None = None

    @property
    def top_source(self) -> str:
        return str(self.ranking["source"].iloc[0])

    def to_dict(self) -> dict:
        """JSON-ready plain data (NaN becomes None)."""
        def clean(frame):
            if frame is None:
                return None
            return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
                    for row in frame.astype(object).to_dict(orient="records")]
        return {
            "target": self.target, "library": self.library, "backbone": self.backbone,
            "methods": list(self.methods), "seeds": list(self.seeds), "budget_steps": self.budget_steps,
            "verdict": self.verdict.to_dict(), "stats": _plain(self.stats), "ranking": clean(self.ranking),
            "verify": clean(self.verify), "choice": self.choice,
        }


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


# ---- 1. the target ------------------------------------------------------------------------
def load_target(spec, text_column: str | None = None, label_column: str | None = None,
                progress: bool = True):
    """Resolve and check the target; raise `IntertaskError` naming the problem and the fix."""
    if isinstance(spec, Task):
        task = spec
    else:
        options = {k: v for k, v in (("text_column", text_column), ("label_column", label_column)) if v is not None}
        task = get_task(str(spec), progress=progress, **options)
    n = sum(task.sizes().values())
    if n < MIN_EXAMPLES:
        raise IntertaskError(f"target {task.name!r} has {n} labelled examples; recommend needs at least "
                             f"{MIN_EXAMPLES} (more make the ranking more reliable)")
    if task.kind is TaskKind.CLASSIFICATION and len({ex.label for ex in task.train}) < 2:
        raise IntertaskError(f"target {task.name!r} has a single label in its training data; "
                             "a classifier needs at least two labels")
    return task.validate()


def _chance_score(task) -> float | None:
    if task.main_metric != "accuracy":
        return None
    if task.kind is TaskKind.CLASSIFICATION and task.num_labels:
        return 100.0 / task.num_labels
    if task.kind is TaskKind.MULTIPLE_CHOICE:
        return float(np.mean([100.0 / len(ex.choices) for ex in task.validation]))
    return None


def applicable_methods(task, methods=None) -> list[str]:
    """`methods` (default: all registered) that can score `task` (`selection.methods_for`)."""
    wanted = methods_for(task.kind, methods or None)
    if not wanted:
        raise IntertaskError("methods name no selection method that fits this target", "methods")
    return wanted


def library_methods(library: Library, methods: list[str], explicit: bool) -> list[str]:
    """`methods` minus those the library cannot serve: esm_logme needs the sources' embedding space
    maps (dropped from the defaults, an error when asked for by name)."""
    if "esm_logme" in methods and any(s.esm_map is None for s in library.sources):
        if explicit:
            raise IntertaskError(f"library {str(library.path)!r} has no embedding space maps for esm_logme; add "
                                 f"them with `intertask library add-esm {library.path}` or leave esm_logme out")
        return [m for m in methods if m != "esm_logme"]  # a library built before ESM-LogME
    return methods


# ---- 2-3. short runs and scores -----------------------------------------------------------
def _score_all(methods, library, target_profiles) -> dict[str, np.ndarray]:
    sources = library.profiles()
    scores = {}
    for name in methods:
        selector = make_selector(name).fit(sources)
        rows = target_profiles if name in PROMPT_METHODS else target_profiles[:1]
        scores[name] = np.vstack([selector.score(profile) for profile in rows])
    return scores


def run_task(task):
    """`task` with about `MAX_RUN_TRAIN` training examples (`stratified_sample`) if it has more, for the short runs."""
    if len(task.train) <= MAX_RUN_TRAIN:
        return task
    return dataclasses.replace(task, train=stratified_sample(task.train, MAX_RUN_TRAIN))


def target_scores(task, library, methods, budget: int, seeds: int, backbone, device, progress):
    """Steps 2-3: `seeds` short target runs of `budget` steps on `run_task(task)`, packed, then every
    method's scores of the library's sources. Returns `(scores {method: [R, S]}, profiles, run results)`."""
    runs_on = run_task(task)
    specs = [RunSpec(f"{task.name}-target-seed{s}", runs_on, target_config(library, budget, s)) for s in range(seeds)]
    results = train_packed(specs, backbone, device, progress)
    base = task_profile(task, backbone, seed=0)  # texts embedded once; more than the features, for LogME
    profiles = [dataclasses.replace(base, prompt=prompt_array(r.prompt), prompt_steps=r.best_step,
                                    snapshots={k: prompt_array(v) for k, v in r.snapshots.items()}) for r in results]
    return _score_all(methods, library, profiles), profiles, results


def _open_library(library_dir, task) -> Library:
    """The library at `library_dir` (default: the shipped one) without a source named like the target."""
    if library_dir is None and not (default_library_dir() / "manifest.json").is_file():
        raise IntertaskError("the shipped source library is not built in this checkout; build it with `intertask "
                             "library build configs/library.toml --store stores/library --out "
                             "src/intertask/library/minilm-offline-suite` or give another library")
    library = load_library(library_dir or default_library_dir())
    if task.name in library.source_names:  # a task is no intermediate task for itself
        library.sources = [s for s in library.sources if s.name != task.name]
        if not library.sources:
            raise IntertaskError(f"the library holds only the target {task.name!r} itself; use a larger library")
    return library


def recommend(target_spec, library_dir=None, methods=None, budget_steps: int | None = None, seeds: int = 3,
              verify_k: int = 0, verify_seeds: int = 3, progress=True, device: str = "auto",
              text_column: str | None = None, label_column: str | None = None,
              backbone=None, record: bool = False) -> "Recommendation":
    """Rank the sources of the library at `library_dir` (default: the shipped one) for the target.

    `progress` is True (a rich bar on stderr), False/None, or a `progress(event, done, total)`
    callable passed to `train_packed`.
    `backbone` (optional) is an already loaded backbone of the library's kind.
    `record` (with `verify_k`): the verification runs follow the library's history protocol and
    are appended to its history (`library_dir` must be given: the shipped library is read-only).
    Returns a `Recommendation`; raises `IntertaskError` for a bad target or library.
    """
    start = time.perf_counter()
    budget = DEFAULT_BUDGET_STEPS if budget_steps is None else int(budget_steps)
    for name, value, least in (("seeds", seeds, 1), ("verify_seeds", verify_seeds, 1), ("verify_k", verify_k, 0),
                               ("budget_steps", budget, 1)):
        if value < least:
            raise IntertaskError(f"{name} must be >= {least}, got {value}", name)
    task = load_target(target_spec, text_column, label_column, progress=bool(progress))
    chosen, methods = methods, applicable_methods(task, methods)
    library = _open_library(library_dir, task)
    methods = library_methods(library, methods, explicit=bool(chosen))
    if record and (not verify_k or library_dir is None):
        raise IntertaskError("recording verified transfers needs verify_k >= 1 and an explicit library_dir "
                             "(the shipped library is part of the installed package)")
    if verify_k > len(library.sources):
        raise IntertaskError(f"verify_k {verify_k} exceeds the library's {len(library.sources)} sources", "verify_k")
    device = resolve_device(device)
    if backbone is None:
        backbone = load_backbone(library.backbone["name"], device=device)
    elif backbone.name != library.backbone["name"]:
        raise IntertaskError(f"library {str(library.path)!r} was built for backbone "
                             f"{library.backbone['name']!r}, not {backbone.name!r}")
    seed_list = list(range(seeds))
    leaks = check_target(library, task)
    with progress_bar(progress is True) as bar:
        callback = bar if progress is True else (progress or None)
        scores, profiles, results = target_scores(task, library, methods, budget, seeds, backbone, device, callback)
        recommendation = _assemble(task, library, methods, seed_list, budget, scores, profiles[0], results, leaks)
        if verify_k:
            recommendation.verify, recommendation.choice = verify_sources(
                run_task(task), library, recommendation.ranking["source"].tolist()[:verify_k], verify_seeds, budget,
                backbone, device, callback, record=record)
    recommendation.stats["seconds"] = time.perf_counter() - start
    return recommendation


# ---- 4-5. aggregate and trust -------------------------------------------------------------
def combined_methods(scores: dict[str, np.ndarray], learned_seeds: int) -> dict[str, np.ndarray]:
    """The scores recommend combines: every method but the reference ones, and without the prompt
    methods when none of the short target runs cleared its floor (`learned_seeds == 0`: their
    prompts say nothing about the target)."""
    aggregated = {m: s for m, s in scores.items() if m not in REFERENCE_METHODS} or scores
    if learned_seeds == 0:
        aggregated = {m: s for m, s in aggregated.items() if m not in PROMPT_METHODS} or aggregated
    return aggregated


def _assemble(task, library, methods, seed_list, budget, scores, profile, results, leaks=()) -> Recommendation:
    names = library.source_names
    learned_seeds = sum(learned(r.test_score, r.test_floor) for r in results)
    aggregated = combined_methods(scores, learned_seeds)
    combined = rk.combined_scores(aggregated)
    history = library.history.learned_only().frame
    signal = history_signal(history, names, profile.text_embedding, library.target_embeddings,
                            {s.name: s.tags for s in library.sources}, task.tags)
    gain, p_neg = signal.expected_gain, signal.p_negative
    rule_scores, rule_name, combination = order_scores(library.combination, aggregated, signal)
    learned_scores = rule_scores if rule_name == LEARNED else None
    best_first = rk.order(-rule_scores, names)
    embeddings = np.vstack([s.text_embedding for s in library.sources])
    similarity = cosine_scores(embeddings.astype(np.float64), profile.text_embedding.astype(np.float64))
    k = rk.top_k_for(len(names))
    top_sets = rk.top_k_sets(aggregated, k)
    method_topk = np.array([np.mean([i in top for top in top_sets.values()]) for i in range(len(names))])
    stability = rk.per_seed_top_k_share(aggregated, len(seed_list), k)
    table = {"source": names, "combined_rank": np.zeros(len(names), int), "mean_rank": combined}
    if learned_scores is not None:
        table["learned_score"] = learned_scores
    table.update({f"score_{m}": s.mean(axis=0) for m, s in scores.items()})
    shares = {leak.source: leak.share for leak in leaks}
    leak_share = [shares.get(n, 0.0) if has_fingerprints(library) else np.nan for n in names]
    table.update({"method_topk": method_topk, "stability": stability, "similarity": similarity,
                  "leak_share": leak_share, "expected_gain": gain, "p_negative": p_neg})
    ranking = pd.DataFrame(table).iloc[best_first].reset_index(drop=True)
    ranking["combined_rank"] = np.arange(1, len(names) + 1)

    val_scores = [float(r.validation_score) for r in results]
    noise = rk.history_noise(history, profile.text_embedding, library.target_embeddings)
    if noise is None and len(val_scores) > 1:
        noise = float(np.std(val_scores, ddof=1))
    n_aggr = len(aggregated)
    agreement = rk.top_k_agreement(aggregated, k)
    agreement_random = rk.random_top_k_agreement(n_aggr, len(names), k) if n_aggr >= 2 else None
    prompt_scores = {m: s for m, s in aggregated.items() if m in PROMPT_METHODS}
    stats = {
        "method_agreement_spearman": rk.mean_pairwise_spearman([s.mean(axis=0) for s in aggregated.values()]),
        "combination": combination, "rule": rule_name, "top_k": k,
        "risk_calibration": (library.combination or {}).get("calibration"),
        "method_topk_overlap": agreement, "method_topk_overlap_random95": agreement_random,
        "seed_stability_spearman": rk.seed_stability(prompt_scores),
        "target_validation_scores": val_scores, "chance_score": _chance_score(task),
        "target_test_floors": [float(r.test_floor) for r in results], "target_runs_learned": learned_seeds,
        "seed_noise": noise, "n_train": len(task.train), "n_train_runs": len(run_task(task).train),
        "target_tags": list(task.tags), "history_targets": library.history.targets,
        "leaks": [leak.to_dict() for leak in leaks], "leak_check": has_fingerprints(library),
    }
    top = ranking.iloc[0]
    verdict = make_verdict(Evidence(
        top_source=str(top["source"]), k=k, n_seeds=len(seed_list), learned_seeds=learned_seeds,
        agreement=agreement, agreement_random=agreement_random,
        stability=stats["seed_stability_spearman"], similarity=float(top["similarity"]),
        reasoning_tag="reasoning" in task.tags, target_score=float(np.mean(val_scores)),
        chance_score=stats["chance_score"],
        top_expected_gain=None if np.isnan(top["expected_gain"]) else float(top["expected_gain"]),
        noise=noise, history_has_target=task.name in stats["history_targets"],
        best_expected_gain=None if ranking["expected_gain"].isna().all() else float(ranking["expected_gain"].max()),
        leaks=tuple(leak.describe() for leak in leaks if leak.warns), ranked_by=combination,
    ))
    return Recommendation(target=task.name, library=str(library.path), backbone=library.backbone["name"],
                          methods=list(methods), seeds=seed_list, budget_steps=budget, ranking=ranking,
                          verdict=verdict, stats=stats)
