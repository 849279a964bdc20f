"""`verify_k`: real prompt transfers for the top K sources, against the no-transfer baseline.

For each target seed `r` in `0..S-1`: one baseline run (the target prompt trained from its
usual initialisation) and, per source `s`, one transfer run (the target prompt initialised with
`s`'s library prompt), all with the short runs' `TrainConfig` (evaluated on up to 500 examples)
and packed into one `train_packed` call.
Per source: `gain_r = test_score(transfer s, r) − test_score(baseline, r)` (paired by seed);
`mean_gain` = mean over seeds with a 95% Student-t interval on the paired differences
(`ci_low`, `ci_high` = mean ± t_{n−1} · sd / √n; a bootstrap over 3 seeds covers only about 76%;
NaN with a single seed, too few for any interval);
`val_gain` is the same on validation scores. The final choice is the source with the largest
`val_gain` when it is above 0 (the choice never looks at test scores), else no intermediate task.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from intertask.recommend.build import text_centroid
from intertask.recommend.measure import append_history, history_row
from intertask.recommend.target_runs import history_config, target_config
from intertask.stats import t_interval
from intertask.tasks.metrics import learned
from intertask.training import RunSpec, train_packed

NO_TRANSFER = "(no intermediate task)"
EVAL_EXAMPLES = 500  # validation/test examples per evaluation (the short ranking runs use fewer)


def verify_sources(task, library, sources: list[str], n_seeds: int, budget_steps: int, backbone, device,
                   progress, record: bool = False) -> tuple[pd.DataFrame, str]:
    """`(table, choice)`: table rows `source, mean_gain, ci_low, ci_high, n_seeds, val_gain,
    transfer_score, baseline_score`, best `val_gain` first.

    With `record`, the runs follow the library's history protocol instead (`history_config`:
    `DEFAULT_BUDGET_STEPS` steps, the full test split) and their transfers are appended to the
    library's history, as `library measure` would (`measure.append_history`)."""
    def config(seed: int):
        if record:
            return history_config(library, seed)
        return dataclasses.replace(target_config(library, budget_steps, seed), max_eval_examples=EVAL_EXAMPLES)

    seeds = list(range(n_seeds))
    specs = [RunSpec(f"{task.name}-baseline-seed{r}", task, config(r)) for r in seeds]
    for name in sources:
        prompt = library.source(name).prompt
        specs += [RunSpec(f"{task.name}-from-{name}-seed{r}", task, config(r), init_prompt=prompt) for r in seeds]
    results = {r.run_id: r for r in train_packed(specs, backbone, device, progress)}
    base = {r: results[f"{task.name}-baseline-seed{r}"] for r in seeds}
    rows = []
    for name in sources:
        runs = [results[f"{task.name}-from-{name}-seed{r}"] for r in seeds]
        gains = np.array([run.test_score - base[r].test_score for r, run in zip(seeds, runs)], dtype=float)
        val_gains = np.array([run.validation_score - base[r].validation_score for r, run in zip(seeds, runs)])
        low, high = t_interval(gains)
        rows.append({"source": name, "mean_gain": float(gains.mean()), "ci_low": float(low),
                     "ci_high": float(high), "n_seeds": len(seeds), "val_gain": float(val_gains.mean()),
                     "transfer_score": float(np.mean([run.test_score for run in runs])),
                     "baseline_score": float(np.mean([b.test_score for b in base.values()]))})
    if record:
        history = [history_row(task.name, name, library.source(name).best_seed, results[f"{task.name}-from-{name}-seed{r}"],
                               base[r].test_score, learned(base[r].test_score, base[r].test_floor))
                   for name in sources for r in seeds]
        centroid = None if task.name in library.target_embeddings else text_centroid(task, backbone)
        append_history(library.path, history, task.name, centroid)
    table = pd.DataFrame(rows).sort_values("val_gain", ascending=False, kind="stable").reset_index(drop=True)
    best = table.iloc[0]
    choice = str(best["source"]) if best["val_gain"] > 0 else NO_TRANSFER
    return table, choice
