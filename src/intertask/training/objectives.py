"""What a run optimises and predicts, per backbone kind and task kind.

An `Objective` turns a task's examples into backbone requests (sequences, and for text-to-text
backbones the answer to score) and turns the backbone's outputs back into a loss or predictions,
using the run's own head tensors. The packed trainer only moves requests and outputs around.

- encoder, classification: logits = pooled @ W.T + b (`W [K, H]`), cross-entropy.
- encoder, regression: y = pooled @ w.T + b (`w [1, H]`), mean squared error.
- encoder, multiple choice: one sequence `(text, choice)` per choice, score_c = pooled_c @ w.T + b,
  cross-entropy over the example's choices.
- class weights (optional, classification): cross-entropy weighted by w_c = N / (K n_c) from the
  train split's class counts n_c.
- probe (encoders, classification and regression): the head fitted in closed form or by L-BFGS on
  frozen pooled features, logistic regression (L2, C = 1) or ridge (alpha = 1), as the starting head.
- decoder / seq2seq (classification or multiple choice): train on the gold answer,
  loss = mean over examples of -log p(gold) / |gold tokens|; predict the candidate (label name or
  choice) with the highest summed log-probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from intertask.backbones.base import Tokens
from intertask.errors import IntertaskError
from intertask.tasks.task import TaskKind


@dataclass(frozen=True)
class Item:
    """One tokenised example: its sequences (1, or one per choice), candidate answers, gold label."""

    sequences: tuple[Tokens, ...]
    candidates: tuple[tuple[int, ...], ...] | None
    gold: int | float


class Objective:
    """Loss and predictions of one run; `head_shapes` are the head tensors it trains."""

    def __init__(self, task, backbone, max_length: int):
        self.task, self.backbone, self.max_length = task, backbone, max_length
        self.text_to_text = backbone.kind != "encoder"
        if self.text_to_text and task.kind is TaskKind.REGRESSION:
            raise IntertaskError(
                f"task {task.name!r} is a regression task; use an encoder backbone (e.g. minilm) for it"
            )
        hidden = backbone.hidden_size
        if self.text_to_text:
            self.head_shapes = {}
        elif task.kind is TaskKind.CLASSIFICATION:
            self.head_shapes = {"weight": (task.num_labels, hidden), "bias": (task.num_labels,)}
        else:
            self.head_shapes = {"weight": (1, hidden), "bias": (1,)}
        self._label_answers = (backbone.tokenize_answers(list(task.labels))
                               if self.text_to_text and task.kind is TaskKind.CLASSIFICATION else None)
        self.class_weights: torch.Tensor | None = None  # [K], set by `use_class_weights`

    def use_class_weights(self, items: list[Item]) -> None:
        """Weight the classification loss by w_c = N / (K n_c) over `items` (absent classes: weight 1)."""
        if self.task.kind is not TaskKind.CLASSIFICATION:
            return
        counts = np.bincount([item.gold for item in items], minlength=self.task.num_labels).astype(float)
        weights = np.where(counts > 0, len(items) / (self.task.num_labels * np.maximum(counts, 1)), 1.0)
        self.class_weights = torch.tensor(weights, dtype=torch.float32)

    @property
    def can_probe(self) -> bool:
        """Whether `probe` can fit this head (encoder classification or regression)."""
        return not self.text_to_text and self.task.kind is not TaskKind.MULTIPLE_CHOICE

    def probe(self, features: np.ndarray, items: list[Item]) -> dict[str, torch.Tensor]:
        """A head fitted on frozen `features` `[N, H]` of `items`: logistic regression (multinomial,
        L-BFGS, C = 1, class-weighted when `class_weights` is set) or ridge regression (alpha = 1).

        Classes absent from `items` get zero weights and a bias 10 below the lowest fitted one.
        The fit runs its BLAS on one thread: its matrices (`[N, H] @ [H, K]`) are too small to
        split, and threads of BLAS's own next to torch's spinning ones made it 10-40x slower.
        """
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit_probe(features, items)

    def _fit_probe(self, features: np.ndarray, items: list[Item]) -> dict[str, torch.Tensor]:
        from sklearn.linear_model import LogisticRegression, Ridge

        gold = np.array([item.gold for item in items])
        if self.task.kind is TaskKind.REGRESSION:
            ridge = Ridge(alpha=1.0).fit(features, gold)
            return {"weight": torch.tensor(ridge.coef_[None], dtype=torch.float32),
                    "bias": torch.tensor([ridge.intercept_], dtype=torch.float32)}
        classes = np.unique(gold)
        weight = np.zeros((self.task.num_labels, features.shape[1]))
        bias = np.zeros(self.task.num_labels)
        if len(classes) > 1:
            balanced = "balanced" if self.class_weights is not None else None
            model = LogisticRegression(C=1.0, max_iter=1000, class_weight=balanced).fit(features, gold)
            coef, intercept = model.coef_, model.intercept_
            if len(classes) == 2:  # sklearn gives one row for class 1 vs 0: split it symmetrically
                coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-intercept[0], intercept[0]]) / 2
            weight[classes], bias[classes] = coef, intercept
        absent = np.setdiff1d(np.arange(self.task.num_labels), classes)
        bias[absent] = bias[classes].min() - 10.0
        return {"weight": torch.tensor(weight, dtype=torch.float32), "bias": torch.tensor(bias, dtype=torch.float32)}

    # ------------------------------------------------------------------ examples -> items

    def prepare(self, examples) -> list[Item]:
        """Tokenise `examples` once (lengths drive the bucketing)."""
        bb, n = self.backbone, self.max_length
        if self.task.kind is TaskKind.MULTIPLE_CHOICE and not self.text_to_text:
            items = []
            for ex in examples:
                text = ex.text if ex.text_pair is None else f"{ex.text} {ex.text_pair}"
                seqs = bb.tokenize([text] * len(ex.choices), list(ex.choices), max_length=n)
                items.append(Item(tuple(seqs), None, int(ex.label)))
            return items
        tokens = bb.tokenize([ex.text for ex in examples], [ex.text_pair for ex in examples], max_length=n)
        items = []
        for ex, tok in zip(examples, tokens):
            if not self.text_to_text:
                candidates = None
            elif self.task.kind is TaskKind.CLASSIFICATION:
                candidates = tuple(self._label_answers)
            else:
                candidates = tuple(bb.tokenize_answers(list(ex.choices)))
            gold = float(ex.label) if self.task.kind is TaskKind.REGRESSION else int(ex.label)
            items.append(Item((tok,), candidates, gold))
        return items

    @staticmethod
    def length(item: Item) -> int:
        return max(len(s.ids) for s in item.sequences)

    # ------------------------------------------------------------------ items -> requests

    def requests(self, items: list[Item], train: bool) -> list[tuple[Tokens, tuple[int, ...] | None]]:
        """Sequences for the backbone: (tokens, answer) pairs, answer None for encoders."""
        if not self.text_to_text:
            return [(seq, None) for item in items for seq in item.sequences]
        if train:
            return [(item.sequences[0], item.candidates[item.gold]) for item in items]
        return [(item.sequences[0], cand) for item in items for cand in item.candidates]

    # ------------------------------------------------------------------ outputs -> loss / predictions

    def _scores(self, outputs: torch.Tensor, head: dict) -> torch.Tensor:
        return F.linear(outputs, head["weight"], head["bias"])

    def loss(self, outputs: torch.Tensor, items: list[Item], head: dict) -> torch.Tensor:
        """Mean loss of `items` from their backbone outputs (`[n, H]` pooled or `[n, 2]` logprob, count)."""
        if self.text_to_text:
            return (-outputs[:, 0] / outputs[:, 1]).mean()
        kind = self.task.kind
        if kind is TaskKind.CLASSIFICATION:
            gold = torch.tensor([item.gold for item in items], device=outputs.device)
            weights = None if self.class_weights is None else self.class_weights.to(outputs.device)
            return F.cross_entropy(self._scores(outputs, head), gold, weight=weights)
        if kind is TaskKind.REGRESSION:
            gold = torch.tensor([item.gold for item in items], device=outputs.device, dtype=torch.float32)
            return F.mse_loss(self._scores(outputs, head).squeeze(-1), gold)
        scores = self._scores(outputs, head).squeeze(-1).split([len(item.sequences) for item in items])
        losses = [F.cross_entropy(s[None], torch.tensor([item.gold], device=s.device)) for s, item in zip(scores, items)]
        return torch.stack(losses).mean()

    def predict(self, outputs: torch.Tensor, items: list[Item], head: dict) -> list:
        """Predicted label index (or value, for regression) of each item."""
        if self.text_to_text:
            groups = outputs[:, 0].split([len(item.candidates) for item in items])
            return [int(g.argmax()) for g in groups]
        kind = self.task.kind
        if kind is TaskKind.CLASSIFICATION:
            return self._scores(outputs, head).argmax(-1).tolist()
        if kind is TaskKind.REGRESSION:
            return self._scores(outputs, head).squeeze(-1).tolist()
        groups = self._scores(outputs, head).squeeze(-1).split([len(item.sequences) for item in items])
        return [int(g.argmax()) for g in groups]


def run_backbone(backbone, prompts: list[torch.Tensor], requests: list[tuple[Tokens, tuple | None]],
                 chunk: int | None = None) -> torch.Tensor:
    """Backbone outputs of `requests` in their order: `[n, H]` pooled states (encoder) or
    `[n, 2]` (answer logprob, answer tokens) for text-to-text backbones.

    With `chunk`, the sequences are sorted by length and run `chunk` at a time, so each call pads
    only to its own longest sequence (length bucketing across packed runs: fewer FLOPs on CPU).
    """
    n = len(requests)
    if chunk is None or n <= chunk:
        return _run_once(backbone, prompts, requests)
    order = sorted(range(n), key=lambda i: len(requests[i][0].ids) + len(requests[i][1] or ())
                   + (0 if prompts[i] is None else prompts[i].shape[0]))
    pieces = [_run_once(backbone, [prompts[i] for i in order[s:s + chunk]], [requests[i] for i in order[s:s + chunk]])
              for s in range(0, n, chunk)]
    inverse = torch.empty(n, dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(n)
    return torch.cat(pieces)[inverse.to(pieces[0].device)]


def _run_once(backbone, prompts, requests) -> torch.Tensor:
    tokens = [tok for tok, _ in requests]
    if backbone.kind == "encoder":
        return backbone.pooled(prompts, tokens)
    logprob, count = backbone.answer_logprob(prompts, tokens, [ans for _, ans in requests])
    return torch.stack([logprob.float(), count], dim=1)
