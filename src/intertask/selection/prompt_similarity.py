"""Prompt task embeddings: compare a source's trained prompt with a briefly trained target prompt.

Reference: Lin et al., "Exploring the Effectiveness and Consistency of Task Selection in
Intermediate-Task Transfer Learning" (ACL SRW 2024, https://arxiv.org/abs/2407.16245);
`feature_mean` is SPoT's task embedding (Vu et al., ACL 2022, https://arxiv.org/abs/2110.07904).

Every prompt is `[P, H]` (P tokens of width H). First each token vector is L2-normalised:
x̂_i = x_i / ‖x_i‖ (a zero token stays zero). Then, for a source S and a target T
(cos(a, b) = a·b / (‖a‖‖b‖), and 0 when either is zero):

- `feature_mean`: cos(mean_i Ŝ_i, mean_j T̂_j), the cosine of the token means (`[H]` each).
  Prompt lengths may differ.
- `flatten`: cos(vec(Ŝ), vec(T̂)) of the flattened `[P·H]` matrices; needs equal P.
- `unigram`: u_i = mean_h x̂_{i,h}, the mean over features of each token, gives a `[P]` vector
  per prompt; score = cos(u(S), u(T)). Needs equal P. (Our reading of "mean over features":
  the paper's code averages the feature axis of the normalised prompt, then takes one cosine.)
- `bigram`: b_k = [x̂_k ; x̂_{k+1}] (`[2H]`) for k = 0, stride, 2·stride, … ≤ P − 2; score =
  mean_k cos(b_k(S), b_k(T)), position by position. Needs equal P. `stride=2` (the default)
  takes disjoint pairs (`[⌊P/2⌋, 2H]`), which is what the paper's released code computes;
  `stride=1` uses every adjacent pair (`[P−1, 2H]`).
- `max_pairwise`: mean_i max_j cos(Ŝ_i, T̂_j): for each source token its best-matching target
  token (a maximum inner product search), averaged over the source tokens. Lengths may differ.

`PromptIndex` keeps a library of S prompts as one float32 `[S, P, H]` array of unit tokens and
scores all of it against a target with a few matrix products per chunk of sources. Cost per
target: `max_pairwise` is one GEMM, 2·S·P·P_t·H flops (≈154 GFLOP for 10,000 prompts of
100 × 768), so it is compute-bound; the other methods are one pass over the library or less
(see `benchmarks/bench_prompt_similarity.py` for measured times).
"""

from __future__ import annotations

import numpy as np

from intertask.errors import IntertaskError, did_you_mean
from intertask.selection.base import Selector, TaskProfile
from intertask.selection.text_embedding import cosine_scores

METHODS = ("feature_mean", "flatten", "unigram", "bigram", "max_pairwise")
POSITIONAL = ("flatten", "unigram", "bigram")


def _normalize_inplace(prompts: np.ndarray, chunk_size: int) -> np.ndarray:
    """Divide each token of `prompts` `[S, P, H]` by its L2 norm in place; returns the `[S, P]`
    mask m (1.0 for a nonzero token, 0.0 for a zero one), so that ‖x̂‖² = m."""
    mask = np.empty(prompts.shape[:2], np.float32)
    for start in range(0, len(prompts), chunk_size):
        chunk = prompts[start:start + chunk_size]
        norms = np.sqrt(np.einsum("sph,sph->sp", chunk, chunk))
        mask[start:start + chunk_size] = norms > 0
        chunk /= np.where(norms > 0, norms, 1.0)[..., None]
    return mask


class PromptIndex:
    """A library of prompts `[S, P, H]`, token-normalised once, scored against one target at a time.

    `copy=False` normalises `prompts` in place when it already is a C-contiguous float32 array
    (saves memory for big libraries). `chunk_size` sources are processed per matrix product, so
    `max_pairwise` needs `chunk_size · P · P_target` floats of scratch memory.
    """

    def __init__(self, prompts: np.ndarray, chunk_size: int = 128, copy: bool = True):
        prompts = np.asarray(prompts)
        if prompts.ndim != 3 or 0 in prompts.shape:
            raise IntertaskError(f"prompts must be a non-empty [S, P, H] array, got shape {prompts.shape}")
        if not np.all(np.isfinite(prompts)):
            raise IntertaskError("prompts contain NaN or infinite values")
        self.units = np.array(prompts, np.float32, order="C", copy=True if copy else None)
        self.chunk_size = max(1, int(chunk_size))
        self.mask = _normalize_inplace(self.units, self.chunk_size)
        self._cache: dict[str, np.ndarray] = {}

    def _target(self, target: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
        target = np.asarray(target)
        _, p, h = self.units.shape
        if target.ndim != 2 or target.shape[1] != h:
            raise IntertaskError(
                f"target prompt must be [P, {h}] like the sources, got shape {target.shape}"
            )
        if method in POSITIONAL and target.shape[0] != p:
            raise IntertaskError(
                f"method '{method}' compares prompts position by position: sources have {p} tokens, "
                f"the target has {target.shape[0]}; use feature_mean or max_pairwise"
            )
        if not np.all(np.isfinite(target)):
            raise IntertaskError("target prompt contains NaN or infinite values")
        unit = np.array(target, np.float32, copy=True)[None]
        mask = _normalize_inplace(unit, 1)
        return unit[0], mask[0]

    def scores(self, target: np.ndarray, method: str, stride: int = 2) -> np.ndarray:
        """Similarity `[S]` of every library prompt to `target` `[P_t, H]` under `method`."""
        if method not in METHODS:
            raise IntertaskError(f"unknown prompt similarity '{method}'{did_you_mean(method, METHODS)}")
        t, t_mask = self._target(target, method)
        return getattr(self, f"_{method}")(t, t_mask, stride).astype(np.float64)

    def _feature_mean(self, t, t_mask, stride):
        if "feature_mean" not in self._cache:
            self._cache["feature_mean"] = self.units.mean(axis=1)
        return cosine_scores(self._cache["feature_mean"], t.mean(axis=0))

    def _unigram(self, t, t_mask, stride):
        if "unigram" not in self._cache:
            self._cache["unigram"] = self.units.mean(axis=2)
        return cosine_scores(self._cache["unigram"], t.mean(axis=1))

    def _flatten(self, t, t_mask, stride):
        s = len(self.units)
        dots = self.units.reshape(s, -1) @ t.reshape(-1)
        norms = np.sqrt(self.mask.sum(axis=1) * t_mask.sum())
        return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)

    def _bigram(self, t, t_mask, stride):
        if not isinstance(stride, int) or stride < 1:
            raise IntertaskError(f"bigram: stride must be an integer >= 1, got {stride!r}")
        if t.shape[0] < 2:
            raise IntertaskError("bigram needs prompts of at least 2 tokens")
        first = np.arange(0, t.shape[0] - 1, stride)
        out = np.empty(len(self.units), np.float32)
        t_norm = np.sqrt(t_mask[first] + t_mask[first + 1])
        for start in range(0, len(self.units), self.chunk_size):
            chunk = self.units[start:start + self.chunk_size]
            dots = np.einsum("sph,ph->sp", chunk, t)  # x̂_i(S)·x̂_i(T), [C, P]
            pair_dots = dots[:, first] + dots[:, first + 1]
            m = self.mask[start:start + self.chunk_size]
            norms = np.sqrt(m[:, first] + m[:, first + 1]) * t_norm
            cos = np.divide(pair_dots, norms, out=np.zeros_like(pair_dots), where=norms > 0)
            out[start:start + self.chunk_size] = cos.mean(axis=1)
        return out

    def _max_pairwise(self, t, t_mask, stride):
        s, p, h = self.units.shape
        out = np.empty(s, np.float32)
        t_t = np.ascontiguousarray(t.T)
        buffer = np.empty((min(self.chunk_size, s) * p, t.shape[0]), np.float32)  # reused scratch
        for start in range(0, s, self.chunk_size):
            chunk = self.units[start:start + self.chunk_size]
            sims = buffer[:len(chunk) * p]
            np.matmul(chunk.reshape(-1, h), t_t, out=sims)  # [C·P, P_t]: all token pairs' cosines
            out[start:start + len(chunk)] = sims.max(axis=1).reshape(len(chunk), p).mean(axis=1)
        return out


def prompt_similarity(sources: np.ndarray, target: np.ndarray, method: str, stride: int = 2) -> np.ndarray:
    """Similarity of each source prompt (`[S, P, H]`, or one `[P, H]`) to `target` `[P_t, H]`.

    Returns `[S]` (float64). See the module docstring for each `method`'s formula.

    >>> src = np.array([[[1.0, 0.0], [0.0, 2.0]], [[0.0, 3.0], [0.0, 1.0]]])
    >>> prompt_similarity(src, np.array([[0.0, 5.0]]), "max_pairwise").round(3).tolist()
    [0.5, 1.0]
    """
    sources = np.asarray(sources)
    if sources.ndim == 2:
        sources = sources[None]
    return PromptIndex(sources).scores(target, method, stride)


class PromptSimilaritySelector(Selector):
    """score(s, t) = similarity of s's trained prompt to t's briefly trained prompt.

    Parameters: `method` (one of `METHODS`), `step` (compare against `target.snapshots[step]`
    instead of `target.prompt`; reported as `cost_["target_steps"]`), `stride` (bigram only),
    `chunk_size` (sources per matrix product).
    """

    needs_source = ("prompt",)

    def __init__(self, method: str = "max_pairwise", step: int | None = None, stride: int = 2,
                 chunk_size: int = 128):
        self.method = method
        self.step = step
        self.stride = stride
        self.chunk_size = chunk_size

    @property
    def name(self) -> str:  # the registry name is the method
        return self.method

    def _fit(self, sources: list[TaskProfile]) -> None:
        if self.method not in METHODS:
            raise IntertaskError(f"unknown prompt similarity '{self.method}'{did_you_mean(self.method, METHODS)}")
        shapes = {np.shape(s.prompt) for s in sources}
        if len(shapes) != 1:
            detail = ", ".join(f"{s.name}: {np.shape(s.prompt)}" for s in sources[:5])
            raise IntertaskError(f"all source prompts must have the same [P, H] shape; got {detail}")
        self.index_ = PromptIndex(np.stack([np.asarray(s.prompt, np.float32) for s in sources]),
                                  chunk_size=self.chunk_size, copy=False)

    def _target_prompt(self, target: TaskProfile) -> tuple[np.ndarray, int]:
        if self.step is None:
            self._check(target, ("prompt",), "target")
            return target.prompt, int(target.prompt_steps or 0)
        if self.step not in target.snapshots:
            raise IntertaskError(
                f"method '{self.method}' needs the target prompt at step {self.step}; target "
                f"'{target.name}' has snapshots at {sorted(target.snapshots) or 'no steps'}"
            )
        return target.snapshots[self.step], int(self.step)

    def _score(self, target: TaskProfile) -> np.ndarray:
        prompt, _ = self._target_prompt(target)
        return self.index_.scores(prompt, self.method, self.stride)

    def _target_steps(self, target: TaskProfile) -> int:
        return self._target_prompt(target)[1]
