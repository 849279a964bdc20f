"""The packed trainer: packing equals one-at-a-time, determinism, early stopping, snapshots, errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from intertask.backbones import load_backbone
from intertask.errors import IntertaskError
from intertask.tasks.task import Example, Task, TaskKind
from intertask.tasks.toy import toy_task
from intertask.training import RunSpec, TrainConfig, train_packed
from intertask.training.packed import bucketed_batches


@pytest.fixture(scope="module")
def encoder():
    return load_backbone("tiny-encoder")


def _config(backbone="tiny-encoder", **kw):
    base = dict(backbone=backbone, prompt_length=4, steps=12, batch_size=8, eval_every=4,
                prompt_lr=0.05, head_lr=0.05, max_eval_examples=24)
    base.update(kw)
    return TrainConfig(**base)


def _specs(backbone="tiny-encoder"):
    """Three different runs: two tasks, different seeds, prompt lengths, batch sizes and steps."""
    return [
        RunSpec("a", toy_task("toy_sentiment_food", 48, 24), _config(backbone, seed=1)),
        RunSpec("b", toy_task("toy_topic4", 40, 24), _config(backbone, seed=2, prompt_length=6, batch_size=5, steps=8)),
        RunSpec("c", toy_task("toy_sentiment_food", 48, 24), _config(backbone, seed=3, init="random", optimizer="adafactor")),
    ]


@pytest.mark.parametrize("name", ["tiny-encoder", "tiny-decoder", "tiny-t5"])
def test_packed_equals_one_at_a_time(name):
    backbone = load_backbone(name)
    packed = train_packed(_specs(name), backbone)
    alone = [train_packed([spec], backbone)[0] for spec in _specs(name)]
    for p, a in zip(packed, alone):
        assert p.run_id == a.run_id and p.steps == a.steps
        torch.testing.assert_close(p.prompt, a.prompt, atol=1e-4, rtol=1e-4)
        for key in p.head:
            torch.testing.assert_close(p.head[key], a.head[key], atol=1e-4, rtol=1e-4)
        assert [s for s, _ in p.history] == [s for s, _ in a.history]
        assert [v for _, v in p.history] == pytest.approx([v for _, v in a.history])
        assert p.test_score == pytest.approx(a.test_score)
    assert [r.steps for r in packed] == [12, 8, 12]  # the short run dropped out after 8 steps


def test_deterministic_and_seed_matters(encoder):
    first = train_packed(_specs()[:1], encoder)[0]
    again = train_packed(_specs()[:1], encoder)[0]
    assert torch.equal(first.prompt, again.prompt) and first.history == again.history
    other = dataclasses.replace(_specs()[0], config=_config(seed=7))
    assert not torch.equal(first.prompt, train_packed([other], encoder)[0].prompt)


def test_training_learns_a_toy_task(encoder):
    spec = RunSpec("s", toy_task("toy_sentiment_food", 128, 64), _config(steps=90, eval_every=30, max_eval_examples=64,
                                                                          head_lr=0.1))
    result = train_packed([spec], encoder)[0]
    assert result.validation_score >= 75  # chance is 50
    assert result.best_step in (30, 60, 90) and len(result.history) == 3
    assert result.validation_score == max(score for _, score in result.history)


def test_result_fields_snapshots_and_transfer_init(encoder):
    cfg = _config(snapshot_steps=(0, 4, 12))
    source = train_packed([RunSpec("src", toy_task("toy_sentiment_food", 48, 24), cfg)], encoder)[0]
    assert sorted(source.snapshots) == [0, 4, 12]
    assert source.prompt.shape == (4, 32) and source.head["weight"].shape == (2, 32)
    assert torch.equal(source.snapshots[12], train_packed([RunSpec("x", toy_task("toy_sentiment_food", 48, 24), cfg)],
                                                          encoder)[0].snapshots[12])
    target = RunSpec("t", toy_task("toy_sentiment_travel", 48, 24), _config(steps=4, snapshot_steps=(0,)),
                     init_prompt=source.prompt)
    transfer = train_packed([target], encoder)[0]
    assert torch.equal(transfer.snapshots[0], source.prompt)
    row = transfer.to_row()
    assert row["run_id"] == "t" and "test_accuracy" in row
    assert all(isinstance(v, (int, float, str)) for v in row.values())


def test_early_stopping(encoder):
    spec = RunSpec("e", toy_task("toy_parity", 48, 24), _config(steps=400, eval_every=2, patience=2, prompt_lr=1e-6, head_lr=1e-6))
    result = train_packed([spec], encoder)[0]
    assert result.steps < 400
    assert len(result.history) == result.steps // 2


def test_progress_callback(encoder):
    events = []
    train_packed(_specs()[:2], encoder, progress=lambda e, d, t: events.append((e, d, t)))
    assert [e for e in events if e[0] == "train"] == [("train", s, 12) for s in range(1, 13)]
    assert events[-1] == ("test", 2, 2)
    assert [e for e in events if e[0] == "runs"][-1] == ("runs", 2, 2)
    stopped = []
    spec = RunSpec("e", toy_task("toy_parity", 48, 24), _config(steps=400, eval_every=2, patience=1, prompt_lr=1e-6, head_lr=1e-6))
    train_packed([spec], encoder, progress=lambda e, d, t: stopped.append((e, d, t)))
    assert [e for e in stopped if e[0] == "train"][-1] == ("train", 400, 400)  # a bar ends full after early stopping


def test_bucketing_is_a_function_of_the_seed():
    lengths = [5, 1, 9, 3, 7, 2, 8, 4, 6, 10, 11, 12]
    a, b = bucketed_batches(lengths, 3, seed=0), bucketed_batches(lengths, 3, seed=0)
    first = [next(a) for _ in range(10)]
    assert first == [next(b) for _ in range(10)]
    assert all(len(batch) == 3 for batch in first)
    pool = sorted(i for batch in first[:8] for i in batch)  # 8 batches = one pool: 2 permutations
    assert pool == sorted(list(range(12)) * 2)


def test_multiple_choice_and_regression(encoder):
    words = ("bad", "fine", "good")

    def ex(i):  # the right answer is always "good", at a rotating position among the choices
        choices = words[i % 3:] + words[:i % 3]
        return Example(f"pizza {i}", choices.index("good"), choices=choices)

    mc = Task("mc", TaskKind.MULTIPLE_CHOICE, [ex(i) for i in range(30)], [ex(i) for i in range(9)],
              [ex(i) for i in range(9)])

    def lengths(n):  # the target is the number of words: the encoder's features carry it
        return [Example("good " * (i % 4 + 1), float(i % 4)) for i in range(n)]

    reg = Task("reg", TaskKind.REGRESSION, lengths(24), lengths(8), lengths(8), metrics=("pearson",))
    frozen = _config(steps=4, eval_every=4, prompt_lr=1e-9, head_lr=1e-9)
    trained, untrained, regression = train_packed(
        [RunSpec("mc", mc, _config(steps=4, eval_every=4)), RunSpec("mc0", mc, frozen),
         RunSpec("reg", reg, _config(steps=12, eval_every=4))], encoder)
    assert trained.head["weight"].shape == (1, 32)  # one score per (text, choice) sequence
    assert trained.test_score == 100.0 and untrained.test_score < 50  # it learns to pick "good"; chance is 33
    assert regression.test_score == regression.test_metrics["pearson"] >= 90
    for name in ("tiny-decoder", "tiny-t5"):  # text-to-text: the choice with the highest log-probability
        score = train_packed([RunSpec("mc", mc, _config(name, steps=2))], load_backbone(name))[0].test_score
        assert score * 9 / 100 == pytest.approx(round(score * 9 / 100)), score  # whole examples out of 9


def test_bad_input(encoder):
    with pytest.raises(IntertaskError, match="initial prompt has shape"):
        train_packed([RunSpec("x", toy_task("toy_topic2"), _config(), init_prompt=torch.zeros(3, 32))], encoder)
    with pytest.raises(IntertaskError, match="configured for backbone 'minilm'"):
        train_packed([RunSpec("x", toy_task("toy_topic2"), TrainConfig())], encoder)
    empty = dataclasses.replace(toy_task("toy_topic2"), train=[])
    with pytest.raises(IntertaskError, match="empty train split"):
        train_packed([RunSpec("x", empty, _config())], encoder)
    with pytest.raises(IntertaskError, match="unique"):
        train_packed([RunSpec("x", toy_task("toy_topic2"), _config())] * 2, encoder)


@pytest.mark.parametrize("field,value,message", [
    ("steps", 0, "steps must be a positive integer"),
    ("init", "zeros", "init must be one of vocab | random"),
    ("optimizer", "sgd", "optimizer must be one of"),
    ("prompt_lr", -1.0, "prompt_lr must be a positive"),
    ("patience", 0, "patience"),
    ("snapshot_steps", (500,), "outside"),
])
def test_config_validation(field, value, message):
    with pytest.raises(IntertaskError, match=message):
        TrainConfig(**{field: value})


def test_config_json_round_trip():
    cfg = TrainConfig(backbone="tiny-encoder", init="random", optimizer="adafactor", snapshot_steps=(5, 0), patience=3)
    again = TrainConfig.from_json(cfg.to_json())
    assert again == cfg and again.snapshot_steps == (0, 5)
    with pytest.raises(IntertaskError, match="unknown TrainConfig field"):
        TrainConfig.from_dict({"stepz": 3})


def test_length_sorted_chunks_do_not_change_the_result(encoder, monkeypatch):
    import intertask.training.packed as packed

    whole = train_packed(_specs(), encoder)
    monkeypatch.setattr(packed, "CPU_TRAIN_SEQUENCES", 3)
    monkeypatch.setattr(packed, "EVAL_SEQUENCES", 5)
    chunked = train_packed(_specs(), encoder)
    for w, c in zip(whole, chunked):
        torch.testing.assert_close(w.prompt, c.prompt, atol=1e-4, rtol=1e-4)
        assert [v for _, v in w.history] == pytest.approx([v for _, v in c.history])


def test_probe_head_starts_above_the_floor_and_is_checkpoint_zero(encoder):
    """With head_init=probe the head is fitted on frozen features before any step: at step 0 the
    run already separates the toy topics, and step 0 is evaluated and selectable on validation."""
    task = toy_task("toy_topic4", 160, 80)
    probe = _config(head_init="probe", steps=4, eval_every=4, prompt_lr=1e-6, head_lr=1e-6, max_eval_examples=80)
    result = train_packed([RunSpec("p", task, probe)], encoder)[0]
    random_head = train_packed([RunSpec("r", task, dataclasses.replace(probe, head_init="random"))], encoder)[0]
    assert result.history[0][0] == 0 and random_head.history[0][0] == 4  # only the probe evaluates step 0
    assert result.test_floor == pytest.approx(random_head.test_floor) and result.test_examples == 80
    assert result.test_score >= result.test_floor + 20  # the probe learned; 4 tiny steps cannot move it
    assert random_head.test_score < result.test_score - 15  # a random head at lr 1e-6 stays near chance


def test_probe_is_shared_by_runs_with_the_same_start(encoder):
    task = toy_task("toy_sentiment_food", 64, 24)
    specs = [RunSpec(f"s{seed}", task, _config(head_init="probe", seed=seed, steps=4, eval_every=4),
                     init_prompt=torch.ones(4, encoder.hidden_size)) for seed in (0, 1)]
    first, second = train_packed(specs, encoder)
    alone = train_packed(specs[1:], encoder)[0]
    assert first.history[0] == second.history[0]  # same prompt and task: the same probe at step 0
    torch.testing.assert_close(second.prompt, alone.prompt, atol=1e-4, rtol=1e-4)


def test_runs_with_the_same_start_share_tokens_and_frozen_passes(encoder, monkeypatch):
    """Three target seeds of one transfer: the task is tokenised once per split, and the frozen
    passes that depend only on the items and the prompt (probe features, step-0 validation, the
    test pass of a step-0 best checkpoint) run once; every result equals its run trained alone."""
    import intertask.training.packed as packed
    from intertask.training.objectives import Objective

    task = toy_task("toy_topic4", 40, 20)
    n_train, n_eval = len(task.train), len(task.validation)
    config = _config(head_init="probe", steps=4, eval_every=4, prompt_lr=1e-6, head_lr=1e-6)  # step 0 stays best
    specs = [RunSpec(f"s{seed}", task, dataclasses.replace(config, seed=seed),
                     init_prompt=torch.randn(4, encoder.hidden_size, generator=torch.Generator().manual_seed(0)))
             for seed in (0, 1, 2)]
    alone = [train_packed([spec], encoder)[0] for spec in specs]
    frozen, prepared = [], []
    run_backbone, prepare = packed.run_backbone, Objective.prepare

    def counting_backbone(backbone, prompts, requests, chunk=None):
        if not torch.is_grad_enabled():
            frozen.append(len(requests))
        return run_backbone(backbone, prompts, requests, chunk)

    def counting_prepare(self, examples):
        prepared.append(len(examples))
        return prepare(self, examples)

    monkeypatch.setattr(packed, "run_backbone", counting_backbone)
    monkeypatch.setattr(Objective, "prepare", counting_prepare)
    together = train_packed(specs, encoder)
    assert sorted(prepared) == sorted([n_train, n_eval, len(task.test)])
    assert [r.best_step for r in together] == [0, 0, 0]
    # probe features, step-0 validation, step-4 validation of each seed, one shared test pass
    assert frozen == [n_train, n_eval, 3 * n_eval, len(task.test)]
    for t, a in zip(together, alone):
        assert t.history == a.history and t.test_score == a.test_score
        torch.testing.assert_close(t.prompt, a.prompt)
        for key in t.head:
            torch.testing.assert_close(t.head[key], a.head[key])


def test_class_weights_balance_a_skewed_task(encoder):
    """Inverse-frequency weights w_c = N / (K n_c): the rare class weighs more."""
    from intertask.training.objectives import Item, Objective

    task = toy_task("toy_sentiment_food", 16, 8)
    objective = Objective(task, encoder, 16)
    objective.use_class_weights([Item((), None, g) for g in [0, 0, 0, 1]])
    assert objective.class_weights.tolist() == pytest.approx([4 / 6, 2.0])
    outputs = torch.zeros(4, encoder.hidden_size)
    head = {"weight": torch.zeros(2, encoder.hidden_size), "bias": torch.tensor([1.0, 0.0])}
    items = [Item((), None, g) for g in (0, 1)]
    plain = Objective(task, encoder, 16).loss(outputs[:2], items, head)
    assert objective.loss(outputs[:2], items, head) > plain  # the misclassified rare class weighs 2, the other 2/3
