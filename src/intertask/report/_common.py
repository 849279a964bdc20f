"""Shared helpers for the report figures: input checks, task-name labels, mean with CI, PNG bytes.

Figures are built on `matplotlib.figure.Figure` directly (never `pyplot`), so nothing touches
matplotlib's global figure registry or backend; PNGs are rendered with the Agg canvas.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from intertask.errors import IntertaskError

REASONING_TAG = "reasoning"
REASONING_COLOR = "#c0392b"
OTHER_COLOR = "#2c6fbb"


def require_columns(df, columns: Iterable[str], what: str, allow_empty: bool = False) -> pd.DataFrame:
    """Check that `df` is a DataFrame holding `columns`; raise `IntertaskError` naming what is missing."""
    columns = list(columns)
    if not isinstance(df, pd.DataFrame):
        raise IntertaskError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise IntertaskError(
            f"{what} is missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"it needs {', '.join(columns)}"
        )
    if not allow_empty and df.empty:
        raise IntertaskError(f"{what} has no rows; nothing to plot (run the study/evaluation first)")
    return df


def reasoning_targets(tags: Mapping[str, Iterable[str]] | None) -> set[str]:
    """Names whose tags include 'reasoning' (the targets the paper warns about)."""
    if tags is None:
        return set()
    if not isinstance(tags, Mapping):
        raise IntertaskError(f"tags must be a mapping of task name to tags, got {type(tags).__name__}")
    return {str(name) for name, values in tags.items() if REASONING_TAG in tuple(values or ())}


def order_targets(targets: Iterable[str], reasoning: set[str]) -> list[str]:
    """Sorted targets, the reasoning ones last (so figures can show them apart)."""
    targets = sorted({str(t) for t in targets})
    return [t for t in targets if t not in reasoning] + [t for t in targets if t in reasoning]


def wrap_name(name: str, width: int = 14) -> str:
    """Break a snake_case task name after underscores into lines of about `width` characters.

    >>> wrap_name("formal_fallacies_syllogisms_negation", 14)
    'formal_\\nfallacies_\\nsyllogisms_\\nnegation'
    """
    parts = str(name).split("_")
    lines: list[str] = []
    current = ""
    for i, part in enumerate(parts):
        piece = part + ("_" if i < len(parts) - 1 else "")
        if current and len(current) + len(piece) > width:
            lines.append(current)
            current = piece
        else:
            current += piece
    lines.append(current)
    return "\n".join(lines)


def mean_ci(values, groups, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high) of the finite `values` over whole `groups` (one label per value, e.g. the target):
    `intertask.stats.target_interval` (Student-t below 15 groups, else a group bootstrap); all NaN when none."""
    from intertask.stats import target_interval

    x = np.asarray(values, dtype=float)
    keep = np.isfinite(x)
    if not keep.any():
        return (float("nan"),) * 3
    low, high = target_interval(x[keep], np.asarray(groups)[keep], n_boot=n_boot, alpha=1.0 - level, seed=seed)
    return float(x[keep].mean()), low, high


def new_figure(width: float, height: float):
    """A constrained-layout `Figure` that is not registered with pyplot (no global state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    fig.set_facecolor("white")
    return fig


def figure_png(fig, dpi: int = 110) -> bytes:
    """Render `fig` to PNG bytes with the Agg canvas. A task name in a script the font lacks (CJK, say) is
    drawn as boxes without a warning per glyph on stderr."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()
