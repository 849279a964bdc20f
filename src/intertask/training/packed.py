"""Packed multi-run prompt tuning: many independent runs share one frozen backbone per step.

Because the backbone is frozen, runs never interact: each step concatenates every active run's
own batch into one backbone call, and the loss is the sum of the runs' mean losses,

    L = sum_r mean_{i in batch_r} loss_r(i),

so dL/dtheta_r = d mean-loss_r / dtheta_r for run r's prompt and head theta_r. Each run has its
own seeded example order, prompt, head, optimiser, learning-rate schedule and gradient clipping,
so packing gives the same prompts and scores as training the runs one at a time (up to
floating-point differences from batching). Runs may differ in task, steps, prompt length and
batch size; a finished run drops out.

Speed on CPU comes from doing fewer FLOPs: dynamic padding (a batch is as long as its longest
sequence) and length bucketing (each run draws a pool of `POOL_BATCHES` batches from its own
shuffled stream, sorts the pool by length, cuts it into batches and shuffles their order; this is
a function of the run's seed only, so packing never changes it). On CUDA a packed step is one
backbone call; on CPU its sequences are sorted by length and run `CPU_TRAIN_SEQUENCES` at a time,
so runs of different lengths do not pad each other. fp32 on CPU, bf16 autocast on CUDA.

With `head_init = "probe"` a run's head starts as a linear probe on the frozen features of its
train split (read through its initial prompt), and step 0 is evaluated as a checkpoint. Every
result records its test floor (the best constant prediction's score on the same examples).

Work that runs share is done once per call: each task split is tokenised once per max length, and
a no-grad backbone pass (probe features, validation, test) runs once per distinct (items, prompt
values), its outputs handed to every run that needs them. The target seeds of one transfer start
from the same prompt, so they share the probe, the step-0 validation and, when step 0 stays best,
the test pass. Pack those seeds into one call to get this.

Usage:
    results = train_packed([RunSpec("a", task, TrainConfig(backbone="tiny-encoder"))], backbone)
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from intertask.errors import IntertaskError
from intertask.tasks.metrics import compute_metrics, floor_score
from intertask.tasks.task import TaskKind
from intertask.training.config import HeadInit, OptimizerName, PromptInit, RunResult, RunSpec, TrainConfig
from intertask.training.objectives import Item, Objective, run_backbone

POOL_BATCHES = 8  # length bucketing: sort this many batches' worth of examples at a time
EVAL_SEQUENCES = 128  # sequences per backbone call when evaluating
CPU_TRAIN_SEQUENCES = 32  # on CPU, a packed step runs its sequences in length-sorted chunks of this size
VOCAB_INIT_TOKENS = 5000  # vocab init samples among this many ordinary tokens (Lester et al. 2021)


# ---------------------------------------------------------------------------- helpers


def bucketed_batches(lengths: list[int], batch_size: int, seed: int):
    """Endless batches of example indices for one run, a deterministic function of `seed`.

    The stream is a concatenation of seeded permutations; every `POOL_BATCHES * batch_size`
    indices are sorted by length, cut into batches, and the batches shuffled.
    """
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths)
    pool_size = POOL_BATCHES * batch_size
    stream = np.empty(0, dtype=np.int64)
    while True:
        while len(stream) < pool_size:
            stream = np.concatenate([stream, rng.permutation(len(lengths))])
        pool, stream = stream[:pool_size], stream[pool_size:]
        pool = pool[np.argsort(lengths[pool], kind="stable")]
        batches = [pool[i:i + batch_size] for i in range(0, pool_size, batch_size)]
        for b in rng.permutation(len(batches)):
            yield batches[b].tolist()


def initial_prompt(backbone, config: TrainConfig, init_prompt, run_id: str) -> torch.Tensor:
    """The starting prompt `[P, H]`: the given one (transfer), vocab rows, or N(0, std(E))."""
    P, H = config.prompt_length, backbone.hidden_size
    if init_prompt is not None:
        prompt = torch.as_tensor(np.asarray(init_prompt), dtype=torch.float32).clone()
        if tuple(prompt.shape) != (P, H):
            raise IntertaskError(
                f"run {run_id!r}: the initial prompt has shape {list(prompt.shape)}, but prompt_length={P} on "
                f"backbone {backbone.name!r} needs [{P}, {H}]; train the source with the same prompt length and backbone"
            )
        return prompt
    gen = torch.Generator().manual_seed(config.seed)
    embeddings = backbone.input_embeddings().detach().float().cpu()  # a copy on CUDA: only when needed
    if config.init is PromptInit.RANDOM:
        return torch.randn(P, H, generator=gen) * embeddings.std()
    ordinary = _ordinary_token_ids(backbone.tokenizer)[:VOCAB_INIT_TOKENS]
    ids = torch.tensor(ordinary)[torch.randint(len(ordinary), (P,), generator=gen)]
    return embeddings[ids].clone()


def _ordinary_token_ids(tokenizer) -> list[int]:
    """Ids of whole-word alphabetic tokens (no specials, no `##` pieces, no `[unused]`), ascending."""
    special = set(tokenizer.all_special_ids)
    ids = [i for tok, i in tokenizer.get_vocab().items()
           if i not in special and tok.lstrip("Ġ▁").isalpha() and len(tok.lstrip("Ġ▁")) >= 2]
    return sorted(ids) or sorted(set(range(len(tokenizer))) - special)


def _floor(run: "_Run") -> float:
    """The main metric of the best constant prediction on the run's test examples."""
    task, items = run.spec.task, run.eval_items["test"]
    if task.kind is TaskKind.MULTIPLE_CHOICE:
        choices = max(len(item.candidates or item.sequences) for item in items)
    else:
        choices = task.num_labels or None  # regression: a constant scores 0 whatever the choices
    return floor_score(task.metrics[0], [item.gold for item in items], choices)


@dataclass
class _Run:
    """The live state of one run inside `train_packed`."""

    spec: RunSpec
    objective: Objective
    train_items: list[Item]
    eval_items: dict[str, list[Item]]
    prompt: torch.nn.Parameter
    head: dict
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    batches: object
    step: int = 0
    best: tuple = (-float("inf"), 0, None, None)  # (score, step, prompt, head)
    bad_evals: int = 0
    done: bool = False
    seconds: float = 0.0
    history: list = field(default_factory=list)
    snapshots: dict = field(default_factory=dict)

    @property
    def config(self) -> TrainConfig:
        return self.spec.config

    def params(self) -> list[torch.Tensor]:
        return [self.prompt, *self.head.values()]

    def state(self) -> tuple[torch.Tensor, dict]:
        return self.prompt.detach().clone(), {k: v.detach().clone() for k, v in self.head.items()}


def _setup_run(spec: RunSpec, backbone, device: str, tokenised: dict) -> _Run:
    """Tokenise the task (once per task, max length and split across the runs of one call: the
    `tokenised` cache), initialise prompt and head, build the optimiser and schedule."""
    cfg, task = spec.config, spec.task
    if cfg.backbone != backbone.name:
        raise IntertaskError(f"run {spec.run_id!r} is configured for backbone {cfg.backbone!r}, "
                             f"but the loaded backbone is {backbone.name!r}")
    if not task.train:
        raise IntertaskError(f"task {task.name!r} has an empty train split; give it training examples")
    for split in ("validation", "test"):
        if not task.split(split):
            raise IntertaskError(f"task {task.name!r} has an empty {split} split")
    objective = Objective(task, backbone, cfg.max_length)

    def items(split: str, limit: int | None = None) -> list[Item]:
        key = (id(task), cfg.max_length, split, limit)
        if key not in tokenised:
            tokenised[key] = objective.prepare(task.split(split)[:limit])
        return tokenised[key]

    train_items = items("train")
    if cfg.class_weights:
        objective.use_class_weights(train_items)
    eval_items = {s: items(s, cfg.max_eval_examples) for s in ("validation", "test")}
    prompt = torch.nn.Parameter(initial_prompt(backbone, cfg, spec.init_prompt, spec.run_id).to(device))
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    head = {name: torch.nn.Parameter((torch.randn(shape, generator=gen) * 0.02 if name == "weight"
                                      else torch.zeros(shape)).to(device))
            for name, shape in objective.head_shapes.items()}
    groups = [{"params": [prompt], "lr": cfg.prompt_lr}]
    if head:
        groups.append({"params": list(head.values()), "lr": cfg.head_lr})
    if cfg.optimizer is OptimizerName.ADAFACTOR:
        from transformers.optimization import Adafactor

        optimizer = Adafactor(groups, scale_parameter=False, relative_step=False, warmup_init=False,
                              weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)

    def schedule(step: int) -> float:  # linear warm-up, then linear decay to 0 at cfg.steps
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        return max(0.0, (cfg.steps - step) / max(1, cfg.steps - cfg.warmup_steps))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    batches = bucketed_batches([Objective.length(i) for i in train_items], cfg.batch_size, cfg.seed)
    return _Run(spec, objective, train_items, eval_items, prompt, head, optimizer, scheduler, batches)


def _prompt_key(prompt: torch.Tensor) -> bytes:
    """A digest of the prompt's values: runs whose prompts are equal share their backbone passes."""
    return hashlib.sha1(prompt.detach().cpu().numpy().tobytes()).digest()


def _flatten(jobs: list[tuple[Objective, list[Item], torch.Tensor]], train: bool) -> tuple[list, list, list[int]]:
    """Each request of the jobs `(objective, items, prompt)` in order, its prompt, and the count per job."""
    per_job = [objective.requests(items, train=train) for objective, items, _ in jobs]
    prompts = [prompt for (_, _, prompt), reqs in zip(jobs, per_job) for _ in reqs]
    return prompts, [r for reqs in per_job for r in reqs], [len(reqs) for reqs in per_job]


def _frozen_outputs(jobs: list[tuple[Objective, list[Item], torch.Tensor]], backbone, autocast) -> list[torch.Tensor]:
    """The backbone's outputs (no grad) for each job `(objective, items, prompt)`: `items` read
    through `prompt`, in one packed, length-bucketed pass.

    The outputs depend on the items and the prompt's values only (the head comes after), so jobs
    with the same items list (one task, tokenised once per call) and equal prompts are run once and
    share the result: the target seeds of one transfer share the probe's features, the step-0
    validation pass and, when step 0 is their best checkpoint, the test pass.
    """
    slot_of: dict[tuple, int] = {}
    unique, slots = [], []
    for job in jobs:
        _, items, prompt = job
        key = (id(items), _prompt_key(prompt))
        if key not in slot_of:
            slot_of[key] = len(unique)
            unique.append(job)
        slots.append(slot_of[key])
    prompts, requests, sizes = _flatten(unique, train=False)
    with torch.no_grad(), autocast():
        outputs = run_backbone(backbone, prompts, requests, chunk=EVAL_SEQUENCES).float().split(sizes)
    return [outputs[slot] for slot in slots]


def _evaluate(runs: list[_Run], states: list[tuple], split: str, backbone, autocast) -> list[dict[str, float]]:
    """Metrics of each run on `split` with the given (prompt, head) states."""
    jobs = [(run.objective, run.eval_items[split], prompt) for run, (prompt, _) in zip(runs, states)]
    scores = []
    for run, (_, head), out in zip(runs, states, _frozen_outputs(jobs, backbone, autocast)):
        items = run.eval_items[split]
        predicted = run.objective.predict(out, items, head)
        scores.append(compute_metrics(list(run.spec.task.metrics), [item.gold for item in items], predicted))
    return scores


def _fit_probe_heads(runs: list[_Run], backbone, autocast) -> None:
    """Replace each run's random head by a linear probe on its train split's frozen features
    (read through the run's initial prompt). Runs that share task, settings and initial prompt
    (one transfer over several target seeds) share the features and the fitted probe."""
    jobs = [(run.objective, run.train_items, run.prompt) for run in runs]
    fitted: dict[tuple, dict] = {}
    for run, features in zip(runs, _frozen_outputs(jobs, backbone, autocast)):
        key = (id(run.train_items), _prompt_key(run.prompt), run.config.class_weights)
        if key not in fitted:
            fitted[key] = run.objective.probe(features.cpu().numpy().astype(np.float64), run.train_items)
        with torch.no_grad():
            for name, tensor in fitted[key].items():
                run.head[name].copy_(tensor.to(run.head[name].device))


# ---------------------------------------------------------------------------- the loop


def train_packed(specs: list[RunSpec], backbone, device: str = "cpu",
                 progress: Callable[[str, int, int], None] | None = None) -> list[RunResult]:
    """Train every spec's prompt (and head) together on the frozen `backbone`; one result per spec.

    `progress(event, done, total)` is called with `("train", step, max_steps)` after every
    step (`done == total` once every run has finished, early stopping included), with
    `("runs", n_finished, n_runs)` after each evaluation, and with `("test", n_runs, n_runs)`
    once the best checkpoints are scored.
    """
    if not specs:
        return []
    ids = [s.run_id for s in specs]
    if len(set(ids)) != len(ids):
        raise IntertaskError(f"run ids must be unique; repeated: {sorted({i for i in ids if ids.count(i) > 1})}")
    device = str(device)
    on_cuda = device.startswith("cuda")
    backbone.to(device)

    def autocast():  # bf16 on CUDA only: on CPU bf16 autocast is ~40x slower
        return torch.autocast("cuda", dtype=torch.bfloat16) if on_cuda else contextlib.nullcontext()

    # --- setup: tokenise, initialise prompts and heads, optimisers --------------------------------
    start = time.perf_counter()
    tokenised: dict = {}
    runs = [_setup_run(spec, backbone, device, tokenised) for spec in specs]
    for run in runs:
        if 0 in run.config.snapshot_steps:
            run.snapshots[0] = run.prompt.detach().cpu().clone()
    probed = [run for run in runs if run.config.head_init is HeadInit.PROBE and run.objective.can_probe]
    if probed:  # the probe is a checkpoint of its own: step 0, chosen on validation like any other
        _fit_probe_heads(probed, backbone, autocast)
        for run, metrics in zip(probed, _evaluate(probed, [r.state() for r in probed], "validation", backbone, autocast)):
            score = metrics[run.spec.task.metrics[0]]
            run.history.append((0, score))
            run.best = (score, 0, *run.state())
    total = max(run.config.steps for run in runs)

    for step in range(1, total + 1):
        active = [run for run in runs if not run.done]
        if not active:
            break

        # --- forward: one backbone call over every active run's own batch ------------------------
        batches = [[run.train_items[i] for i in next(run.batches)] for run in active]
        jobs = [(run.objective, items, run.prompt) for run, items in zip(active, batches)]
        prompts, requests, sizes = _flatten(jobs, train=True)
        with autocast():  # on CPU: length-sorted chunks, so runs of different lengths do not pad each other
            outputs = run_backbone(backbone, prompts, requests, chunk=None if on_cuda else CPU_TRAIN_SEQUENCES).float()
        losses = [run.objective.loss(out, items, run.head)
                  for run, out, items in zip(active, outputs.split(sizes), batches)]

        # --- backward and per-run updates ---------------------------------------------------------
        for run in active:
            run.optimizer.zero_grad(set_to_none=True)
        torch.stack(losses).sum().backward()
        for run in active:
            if run.config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(run.params(), run.config.grad_clip)
            run.optimizer.step()
            run.scheduler.step()
            run.step = step
            if step in run.config.snapshot_steps:
                run.snapshots[step] = run.prompt.detach().cpu().clone()

        # --- evaluation on validation: keep the best, stop early ----------------------------------
        due = [run for run in active if step % run.config.eval_every == 0 or step == run.config.steps]
        if due:
            for run, metrics in zip(due, _evaluate(due, [r.state() for r in due], "validation", backbone, autocast)):
                score = metrics[run.spec.task.metrics[0]]
                run.history.append((step, score))
                if run.best[2] is None or score > run.best[0]:  # NaN never becomes "best" after the first
                    run.best = (score, step, *run.state())
                    run.bad_evals = 0
                else:
                    run.bad_evals += 1
                patience = run.config.patience
                if step == run.config.steps or (patience is not None and run.bad_evals >= patience):
                    run.done = True
                    run.seconds = time.perf_counter() - start
            if progress is not None:
                progress("runs", sum(r.done for r in runs), len(runs))
        if progress is not None:
            progress("train", total if all(r.done for r in runs) else step, total)

    # --- test: the best checkpoint of every run, packed -------------------------------------------
    states = [(run.best[2], run.best[3]) for run in runs]
    test_metrics = _evaluate(runs, states, "test", backbone, autocast)
    if progress is not None:
        progress("test", len(runs), len(runs))
    results = []
    for run, metrics in zip(runs, test_metrics):
        score, best_step, prompt, head = run.best
        results.append(RunResult(
            run_id=run.spec.run_id, task_name=run.spec.task.name, seed=run.config.seed, config=run.config,
            best_step=best_step, validation_score=float(score), test_score=float(metrics[run.spec.task.metrics[0]]),
            test_metrics={k: float(v) for k, v in metrics.items()}, steps=run.step,
            seconds=run.seconds or time.perf_counter() - start, prompt=prompt.cpu(),
            head={k: v.cpu() for k, v in head.items()}, snapshots=run.snapshots, history=run.history,
            test_floor=_floor(run), test_examples=len(run.eval_items["test"]),
        ))
    return results
