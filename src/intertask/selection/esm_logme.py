"""ESM-LogME: LogME on the target's base features carried into each source's feature space by a
linear map, instead of reading the target through every source prompt.

Reference: Schulte, Hamborg, Akbik, "Less is More: Parameter-Efficient Selection of Intermediate
Tasks for Transfer Learning", EMNLP 2024 (https://arxiv.org/abs/2410.15148; the
`hf-dataset-selector` package). There a small network per source maps a base model's embeddings
to the fine-tuned model's; here the "fine-tuned model" is the frozen backbone read through the
source's trained prompt, and the map is ridge regression in closed form.

Embedding space map of source s (`[H + 1, H]`, the last row the bias), fitted on the source's own
training texts: X = `features(texts)` (`[N, H]`, no prompt), Y = `features(texts, prompt=P_s)`;
with X_c, Y_c centred and λ = ridge · tr(X_cᵀ X_c) / H (scale-free),

    W = (X_cᵀ X_c + λ I)⁻¹ X_cᵀ Y_c,    b = ȳ − x̄ W,    ESM_s(x) = x W + b.

score(s, t) = `logme_score(ESM_s(X_t), labels_t)` with X_t the target's base features, computed
once per target. Per source that is one `[N, H] × [H, H]` product and one LogME fit, where
prompt-LogME runs the backbone over the target's texts once per source
(`benchmarks/bench_esm_logme.py` measures both).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from intertask.errors import IntertaskError
from intertask.selection.base import TaskProfile
from intertask.selection.logme import LogMESelector

DEFAULT_RIDGE = 1e-2


def fit_esm_map(base: np.ndarray, prompted: np.ndarray, ridge: float = DEFAULT_RIDGE) -> np.ndarray:
    """The ridge map `[H + 1, H]` (float32, bias last) from `base` `[N, H]` to `prompted` `[N, H']`.

    >>> x = np.random.default_rng(0).normal(size=(50, 3))
    >>> w = fit_esm_map(x, 2 * x + 1, ridge=1e-9)
    >>> np.allclose(apply_esm_map(w, x), 2 * x + 1, atol=1e-4)
    True
    """
    x, y = np.asarray(base, np.float64), np.asarray(prompted, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise IntertaskError(f"esm map: base and prompted features must be [N, H] with the same N >= 2, "
                             f"got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise IntertaskError("esm map: features contain NaN or infinite values")
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - x_mean, y - y_mean
    gram = xc.T @ xc
    lam = ridge * max(float(np.trace(gram)) / x.shape[1], 1e-12)
    weights = np.linalg.solve(gram + lam * np.eye(x.shape[1]), xc.T @ yc)
    return np.vstack([weights, y_mean - x_mean @ weights]).astype(np.float32)


def apply_esm_map(esm_map: np.ndarray, base: np.ndarray) -> np.ndarray:
    """`base` `[N, H]` mapped by `esm_map` `[H + 1, H']`: `[N, H']` float64."""
    w = np.asarray(esm_map, np.float64)
    return np.asarray(base, np.float64) @ w[:-1] + w[-1]


class EsmLogMESelector(LogMESelector):
    """score(s, t) = LogME of the target's base features mapped by s's embedding space map.

    A source brings its map (`TaskProfile.esm_map`, as a library stores it) or, failing that, its
    `features` callable and `prompt`, from which `fit` computes the map. `ridge` is the relative
    ridge λ / mean eigenvalue of the map's regression.
    """

    name = "esm_logme"
    needs_target = ("features", "labels")

    def __init__(self, ridge: float = DEFAULT_RIDGE, max_iter: int = 100, tol: float = 1e-6):
        super().__init__(max_iter=max_iter, tol=tol)
        self.ridge = ridge

    def _fit(self, sources: list[TaskProfile]) -> None:
        maps = []
        for source in sources:
            if source.esm_map is not None:
                maps.append(np.asarray(source.esm_map, np.float32))
            elif source.features is not None and source.prompt is not None:
                maps.append(fit_esm_map(source.features(None), source.features(source.prompt), self.ridge))
            else:
                raise IntertaskError(f"method 'esm_logme' needs a source embedding space map, or the source's "
                                     f"features and prompt to fit one; source '{source.name}' has neither (add "
                                     "maps to a library with `intertask library add-esm DIR`)")
        shapes = {m.shape for m in maps}
        if len(shapes) != 1:
            raise IntertaskError(f"esm_logme: the sources' maps differ in shape {sorted(shapes)}; "
                                 "they must come from one backbone")
        self.maps_ = np.stack(maps)  # [S, H + 1, H]

    def _source_features(self, target: TaskProfile) -> Iterator[np.ndarray]:
        """The target's base features (one backbone pass), mapped by each source's map."""
        base = np.asarray(target.features(None), np.float64)
        if base.shape[1] + 1 != self.maps_.shape[1]:
            raise IntertaskError(f"esm_logme: target features have width {base.shape[1]}, the maps expect "
                                 f"{self.maps_.shape[1] - 1}; use the backbone the library was built with")
        return (apply_esm_map(esm_map, base) for esm_map in self.maps_)
