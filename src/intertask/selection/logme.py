"""LogME: the log marginal evidence of a Bayesian linear model on frozen features.

Reference: You, Liu, Wang, Long, "LogME: Practical Assessment of Pre-trained Models for
Transfer Learning", ICML 2021, https://arxiv.org/abs/2102.11005 (written here from the paper's
equations).

Model, per target column y (`[N]`): y = F w + ε with w ~ N(0, α⁻¹ I_D), ε ~ N(0, β⁻¹ I_N),
F the `[N, D]` features. With A = α I + β FᵀF and m = β A⁻¹ Fᵀ y the evidence is

    L(α, β) = D/2 log α + N/2 log β − N/2 log 2π − β/2 ‖F m − y‖² − α/2 ‖m‖² − 1/2 log|A|

and α, β are set by the fixed point (MacKay): with σ_i the eigenvalues of FᵀF,
γ = Σ_i β σ_i / (α + β σ_i), α ← γ / ‖m‖², β ← (N − γ) / ‖F m − y‖².

With the thin SVD F = U diag(s) Vᵀ (r = min(N, D) singular values) and z = Uᵀ y every quantity
is a sum over r terms: ‖m‖² = Σ (β s_i z_i / (α + β s_i²))², ‖F m − y‖² =
Σ (α z_i / (α + β s_i²))² + (‖y‖² − ‖z‖²), log|A| = Σ log(α + β s_i²) + (D − r) log α.

The score is L / N at the fixed point, averaged over the columns of the target matrix: one
one-hot column per class for classification labels, the labels themselves for regression.
Higher = the features explain the labels better.
"""

from __future__ import annotations

import numpy as np

from intertask.errors import IntertaskError
from intertask.selection.base import Selector, TaskProfile
from intertask.tasks.task import TaskKind


def _targets(labels: np.ndarray) -> np.ndarray:
    """`[N]` labels -> `[N, K]`: one-hot per class, or the float column itself for regression."""
    if labels.dtype.kind == "f":
        if np.ptp(labels) == 0:
            raise IntertaskError("logme needs labels that vary; all regression labels are equal")
        return labels[:, None].astype(np.float64)
    classes, index = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise IntertaskError(f"logme needs at least two classes in the labels, got {classes.tolist()}")
    return np.eye(len(classes))[index]


def _evidence_svd(s: np.ndarray, z: np.ndarray, y_sq: float, n: int, d: int,
                  alpha: float, beta: float) -> tuple[float, float, float]:
    """Evidence / N and the next (α, β) of the fixed point, from the SVD terms."""
    s2 = s**2
    denom = alpha + beta * s2
    m_sq = float(np.sum((beta * s * z / denom) ** 2))
    res_sq = float(np.sum((alpha * z / denom) ** 2) + max(y_sq - float(np.sum(z**2)), 0.0))
    gamma = float(np.sum(beta * s2 / denom))
    log_det = float(np.sum(np.log(denom)) + (d - len(s)) * np.log(alpha))
    evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - n / 2 * np.log(2 * np.pi)
                - beta / 2 * res_sq - alpha / 2 * m_sq - log_det / 2)
    # floors keep log α, log β finite when F carries no signal (γ = 0) or fits y exactly
    new_alpha = max(gamma / max(m_sq, 1e-300), 1e-100)
    new_beta = max((n - gamma) / max(res_sq, 1e-300), 1e-100)
    return evidence / n, new_alpha, new_beta


def logme_fit(features: np.ndarray, y: np.ndarray, max_iter: int = 100, tol: float = 1e-6
              ) -> tuple[float, float, float]:
    """Fixed-point (α, β) for one target column; returns (evidence / N, α, β).

    features: `[N, D]`; y: `[N]`. Starts at α = β = 1 and stops when α/β changes by less than
    `tol` (relative) or after `max_iter` updates.
    """
    f = np.asarray(features, np.float64)
    n, d = f.shape
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    z = u.T @ y
    y_sq = float(y @ y)
    alpha, beta = 1.0, 1.0
    for _ in range(max_iter):
        _, new_alpha, new_beta = _evidence_svd(s, z, y_sq, n, d, alpha, beta)
        converged = abs(new_alpha / new_beta - alpha / beta) <= tol * (alpha / beta)
        alpha, beta = new_alpha, new_beta
        if converged:
            break
    evidence, _, _ = _evidence_svd(s, z, y_sq, n, d, alpha, beta)
    return evidence, alpha, beta


def logme_score(features: np.ndarray, labels: np.ndarray, max_iter: int = 100,
                tol: float = 1e-6) -> float:
    """LogME of `features` `[N, F]` for `labels` `[N]` (formula in the module docstring).

    Integer/bool/string labels are classes (one one-hot column each, evidences averaged);
    float labels are a regression target. Higher is better.

    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 50)
    >>> easy = np.c_[y + 0.1 * rng.normal(size=100), rng.normal(size=100)]
    >>> logme_score(easy, y) > logme_score(rng.normal(size=(100, 2)), y)
    True
    """
    f = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    if f.ndim != 2 or f.shape[0] < 2:
        raise IntertaskError(f"logme: features must be [N, F] with N >= 2, got shape {f.shape}")
    if labels.shape != (f.shape[0],):
        raise IntertaskError(
            f"logme: labels must be [N] = [{f.shape[0]}] like the features, got shape {labels.shape}"
        )
    if not np.all(np.isfinite(f)):
        raise IntertaskError("logme: features contain NaN or infinite values")
    targets = _targets(labels)
    return float(np.mean([logme_fit(f, targets[:, k], max_iter, tol)[0]
                          for k in range(targets.shape[1])]))


class LogMESelector(Selector):
    """score(s, t) = `logme_score(t.features(s.prompt), t.labels)`: how well the target's
    training examples, read by the backbone through the source prompt, explain its labels."""

    name = "logme"
    needs_target = ("features", "labels")
    task_kinds = (TaskKind.CLASSIFICATION, TaskKind.REGRESSION)  # class or float labels; not choices

    def __init__(self, max_iter: int = 100, tol: float = 1e-6):
        self.max_iter = max_iter
        self.tol = tol

    def _score(self, target: TaskProfile) -> np.ndarray:
        labels = np.asarray(target.labels)
        return np.array([
            logme_score(target.features(source.prompt), labels, self.max_iter, self.tol)
            for source in self.sources_
        ])
