"""LogME: the log marginal evidence of a Bayesian linear model on frozen features.

Reference: You, Liu, Wang, Long, "LogME: Practical Assessment of Pre-trained Models for
Transfer Learning", ICML 2021, https://arxiv.org/abs/2102.11005 (written here from the paper's
equations).

Model, per target column y (`[N]`): y = F w + ε with w ~ N(0, α⁻¹ I_D), ε ~ N(0, β⁻¹ I_N),
F the `[N, D]` features. With A = α I + β FᵀF and m = β A⁻¹ Fᵀ y the evidence is

    L(α, β) = D/2 log α + N/2 log β − N/2 log 2π − β/2 ‖F m − y‖² − α/2 ‖m‖² − 1/2 log|A|

and α, β are set by the fixed point (MacKay): with σ_i the eigenvalues of FᵀF,
γ = Σ_i β σ_i / (α + β σ_i), α ← γ / ‖m‖², β ← (N − γ) / ‖F m − y‖².

With the thin SVD F = U diag(s) Vᵀ (r = min(N, D) singular values; for N ≤ D, U and s² come
from the eigendecomposition of F Fᵀ, which is cheaper) and z = Uᵀ y every quantity
is a sum over r terms: ‖m‖² = Σ (β s_i z_i / (α + β s_i²))², ‖F m − y‖² =
Σ (α z_i / (α + β s_i²))² + (‖y‖² − ‖z‖²), log|A| = Σ log(α + β s_i²) + (D − r) log α.

The fixed point usually converges within a few dozen updates; when it does not (often when
features outnumber examples, D > N, where β can grow without bound and the updates crawl or
cycle), the fit says so (`converged = False`). Either way the evidence is also maximised directly
over t = α/β: for fixed t the best β is N / E(t) with E(t) = ‖F m − y‖² + t ‖m‖² (m depends on t
only), so the profile evidence

    L(t) = D/2 log t + N/2 log(N / E(t)) − N/2 − N/2 log 2π − 1/2 Σ_i log(t + s_i²) − (D − r)/2 log t

is maximised over log t on a grid (steps of 0.5 across ±30 around log mean s²), refined by
golden-section search, all columns at once. The fit reports the larger of the two: the profile
maximum when the fixed point did not converge, and also when it converged to a local maximum
below it (the evidence can be bimodal in α, e.g. with one dominant feature column and
near-collinear ones: a converged fixed point at moderate α, the global maximum at α → ∞, up to
0.25 nats/N higher). When the evidence has one maximum both routes agree to ~1e-13.

Differences from the reference implementations (thuml/LogME, hf-dataset-selector's `LogME`):
those use the thin SVD when N ≤ D but leave out the −(D − N)/2 · log α that the D − N zero
singular values add to log|A|, so their evidence for N < D is this one plus (D − N)/(2N) · log α,
which differs between sources (α does) and can reverse rankings. With N > D the two agree (to
< 5e-5). They also stop after a fixed number of fixed-point updates (11 or 50) without the
profile maximum. Profiles therefore sample more target texts than the backbone has features
(`selection.profiles.profile_texts`: 512 for MiniLM's 384); a target with fewer training examples
than features still gets the exact evidence here, which the references would not reproduce.

The score is L / N at the maximum, averaged over the columns of the target matrix: one
one-hot column per class for classification labels, the labels themselves for regression.
Higher = the features explain the labels better.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from intertask.errors import IntertaskError
from intertask.selection.base import Selector, TaskProfile
from intertask.tasks.task import TaskKind

log = logging.getLogger(__name__)
GRID_HALF_WIDTH = 30.0  # the profile maximum searches log t within ± this of log mean s²
GRID_STEP = 0.5
GOLDEN_STEPS = 40  # shrinks the ± GRID_STEP bracket by 0.618^40 ≈ 4e-9
GRID_CHUNKS = 8  # the grid's profile evidence is evaluated in this many slices


class LogMEFit(NamedTuple):
    """One fit per target column (arrays `[K]`, or floats from `logme_fit`): evidence / N, α, β,
    and whether the fixed point converged (False: the profile-evidence maximum was used)."""

    evidence: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    converged: np.ndarray


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


def _terms(s: np.ndarray, z: np.ndarray, y_sq: np.ndarray, t: np.ndarray):
    """‖m‖², ‖F m − y‖² and γ = Σ s²/(t + s²) per column at ratio t = α/β (m depends on t only):
    s `[r]`, z `[r, K]`, y_sq `[K]`, t `[K]` -> three `[K]` arrays."""
    s2 = (s**2)[:, None]
    denom = t[None, :] + s2
    m_sq = np.sum((s[:, None] * z / denom) ** 2, axis=0)
    res_sq = np.sum((t[None, :] * z / denom) ** 2, axis=0) + np.maximum(y_sq - np.sum(z**2, axis=0), 0.0)
    return m_sq, res_sq, np.sum(s2 / denom, axis=0)


def _evidence(s, z, y_sq, n: int, d: int, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """L(α, β) / N per column (the module docstring's formula, in SVD terms)."""
    m_sq, res_sq, _ = _terms(s, z, y_sq, alpha / beta)
    log_det = np.sum(np.log(alpha[None, :] + beta[None, :] * (s**2)[:, None]), axis=0) + (d - len(s)) * np.log(alpha)
    evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - n / 2 * np.log(2 * np.pi)
                - beta / 2 * res_sq - alpha / 2 * m_sq - log_det / 2)
    return evidence / n


def _profile(s, z, y_sq, n: int, d: int, log_t: np.ndarray) -> np.ndarray:
    """The profile evidence L(t) / N (β = N / E(t)) at `log_t` `[M, K]` for columns z `[r, K]`,
    y_sq `[K]`: `[M, K]`."""
    t = np.exp(log_t)[None]  # [1, M, K]
    s2 = (s**2)[:, None, None]
    denom = t + s2  # [r, M, K]
    m_sq = np.sum((s[:, None, None] * z[:, None, :] / denom) ** 2, axis=0)
    outside = np.maximum(y_sq - np.sum(z**2, axis=0), 0.0)
    res_sq = np.sum((t * z[:, None, :] / denom) ** 2, axis=0) + outside
    energy = np.maximum(res_sq + t[0] * m_sq, 1e-300)
    log_det = np.sum(np.log(denom), axis=0) + (d - len(s)) * log_t
    return (d / 2 * log_t + n / 2 * np.log(n / energy) - n / 2 - n / 2 * np.log(2 * np.pi) - log_det / 2) / n


def _profile_max(s, z, y_sq, n: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(evidence / N, α, β) `[K]` at the maximum of the profile evidence over log t, for columns
    z `[r, K]`: the best point of the grid, refined by golden-section search within ± one step."""
    center = np.log(max(float(np.mean(s**2)), 1e-300))
    grid = np.arange(center - GRID_HALF_WIDTH, center + GRID_HALF_WIDTH + GRID_STEP / 2, GRID_STEP)
    values = np.vstack([_profile(s, z, y_sq, n, d, np.repeat(rows[:, None], z.shape[1], axis=1))
                        for rows in np.array_split(grid, GRID_CHUNKS)])  # chunks bound the [r, M, K] memory
    best = grid[np.argmax(values, axis=0)]
    low, high = best - GRID_STEP, best + GRID_STEP
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(GOLDEN_STEPS):  # keep the bracket holding the larger of two inner points
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        left = _profile(s, z, y_sq, n, d, np.vstack([a, b]))
        keep_left = left[0] >= left[1]
        low, high = np.where(keep_left, low, a), np.where(keep_left, b, high)
    log_t = np.vstack([best, (low + high) / 2])
    values = _profile(s, z, y_sq, n, d, log_t)
    pick = np.argmax(values, axis=0)
    log_t = log_t[pick, np.arange(z.shape[1])]
    t = np.exp(log_t)
    m_sq, res_sq, _ = _terms(s, z, y_sq, t)
    beta = n / np.maximum(res_sq + t * m_sq, 1e-300)
    return values[pick, np.arange(z.shape[1])], t * beta, beta


def _fit_columns(features: np.ndarray, targets: np.ndarray, max_iter: int, tol: float,
                 fallback: bool = True) -> LogMEFit:
    """Fit every column of `targets` `[N, K]` on `features` `[N, D]` with one decomposition."""
    f = np.asarray(features, np.float64)
    n, d = f.shape
    if n <= d:  # F Fᵀ = U diag(s²) Uᵀ: an [N, N] eigenproblem, cheaper than the SVD of a wide F
        eigenvalues, u = np.linalg.eigh(f @ f.T)
        s = np.sqrt(np.maximum(eigenvalues, 0.0))
    else:
        u, s, _ = np.linalg.svd(f, full_matrices=False)
    z = u.T @ targets
    y_sq = np.sum(targets**2, axis=0)
    k = targets.shape[1]
    alpha, beta = np.ones(k), np.ones(k)
    converged = np.zeros(k, bool)
    for _ in range(max_iter):
        m_sq, res_sq, gamma = _terms(s, z, y_sq, alpha / beta)
        # floors keep log α, log β finite when F carries no signal (γ = 0) or fits y exactly
        new_alpha = np.maximum(gamma / np.maximum(m_sq, 1e-300), 1e-100)
        new_beta = np.maximum((n - gamma) / np.maximum(res_sq, 1e-300), 1e-100)
        step = np.abs(new_alpha / new_beta - alpha / beta) <= tol * (alpha / beta)
        alpha = np.where(converged, alpha, new_alpha)
        beta = np.where(converged, beta, new_beta)
        converged |= step
        if converged.all():
            break
    evidence = _evidence(s, z, y_sq, n, d, alpha, beta)
    if fallback:  # the larger evidence: a converged fixed point can sit on a lower local maximum
        profile = _profile_max(s, z, y_sq, n, d)
        use = ~converged | (profile[0] > evidence)
        evidence, alpha, beta = (np.where(use, p, f) for p, f in zip(profile, (evidence, alpha, beta)))
    return LogMEFit(evidence, alpha, beta, converged)


def logme_fit(features: np.ndarray, y: np.ndarray, max_iter: int = 100, tol: float = 1e-6,
              fallback: bool = True) -> LogMEFit:
    """(evidence / N, α, β, converged) for one target column.

    features: `[N, D]`; y: `[N]`. The fixed point starts at α = β = 1 and stops when α/β changes
    by less than `tol` (relative): `converged`. The profile-evidence maximum is returned instead
    when the fixed point did not converge within `max_iter` updates or converged to a lower
    local maximum (`fallback=False`: the fixed point's last iterate, whatever it is).
    """
    fit = _fit_columns(features, np.asarray(y, np.float64)[:, None], max_iter, tol, fallback)
    return LogMEFit(*(float(v[0]) if v.dtype.kind == "f" else bool(v[0]) for v in fit))


def _check(f: np.ndarray, labels: np.ndarray) -> None:
    if f.ndim != 2 or f.shape[0] < 2:
        raise IntertaskError(f"logme: features must be [N, F] with N >= 2, got shape {f.shape}")
    if labels.shape != (f.shape[0],):
        raise IntertaskError(
            f"logme: labels must be [N] = [{f.shape[0]}] like the features, got shape {labels.shape}"
        )
    if not np.all(np.isfinite(f)):
        raise IntertaskError("logme: features contain NaN or infinite values")


def logme_columns(features: np.ndarray, labels: np.ndarray, max_iter: int = 100,
                  tol: float = 1e-6) -> LogMEFit:
    """The per-column fits behind `logme_score` (arrays `[K]`), with their convergence."""
    f = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    _check(f, labels)
    return _fit_columns(f, _targets(labels), max_iter, tol)


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
    return float(np.mean(logme_columns(features, labels, max_iter, tol).evidence))


class LogMESelector(Selector):
    """score(s, t) = `logme_score(t.features(s.prompt), t.labels)`: how well the target's
    training examples, read by the backbone through the source prompt, explain its labels.

    After `score`, `unconverged_` counts the (source, label column) fits whose fixed point did
    not converge and used the profile-evidence maximum instead (a warning is logged).
    """

    name = "logme"
    needs_target = ("features", "labels")
    task_kinds = (TaskKind.CLASSIFICATION, TaskKind.REGRESSION)  # class or float labels; not choices

    def __init__(self, max_iter: int = 100, tol: float = 1e-6):
        self.max_iter = max_iter
        self.tol = tol

    def _source_features(self, target: TaskProfile) -> Iterator[np.ndarray]:
        """Per source, the `[N, F]` features of the target's examples as that source reads them."""
        return (target.features(source.prompt) for source in self.sources_)

    def _score(self, target: TaskProfile) -> np.ndarray:
        labels = np.asarray(target.labels)
        fits = [logme_columns(features, labels, self.max_iter, self.tol)
                for features in self._source_features(target)]
        self.unconverged_ = int(sum(np.sum(~fit.converged) for fit in fits))
        if self.unconverged_:
            log.warning("%s: the LogME fixed point did not converge in %d updates for %d of %d fits on "
                        "target %s; used the profile-evidence maximum", self.name, self.max_iter,
                        self.unconverged_, sum(len(fit.converged) for fit in fits), target.name)
        return np.array([float(np.mean(fit.evidence)) for fit in fits])
