"""How a number is written for people (terminal tables, verdicts, reports): one formatter, one
word for a number that is missing."""

from __future__ import annotations

import math
import numbers

import numpy as np

MISSING = "n/a"  # None, NaN or an infinite value


def fmt_number(value, spec: str | None = None) -> str:
    """`format(value, spec)`; without `spec`, 3 decimals under 1 and 2 from 1 on (integers and
    text as they are). A missing number (None, NaN, ±inf) is `MISSING`.

    >>> fmt_number(0.12345), fmt_number(12.345), fmt_number(float("nan"), "+.1f"), fmt_number(0.25, ".0%")
    ('0.123', '12.35', 'n/a', '25%')
    """
    if value is None or (isinstance(value, numbers.Real) and not math.isfinite(value)):
        return MISSING
    if spec is None:
        if not isinstance(value, numbers.Real) or isinstance(value, numbers.Integral):
            return str(value)
        spec = ".3f" if abs(value) < 1 else ".2f"
    return format(value, spec)


def show(value) -> str:
    """`repr` of a table cell without numpy's type wrapper, for error messages.

    >>> show(np.int64(1)), show(np.float64(1e30)), show("a")
    ('1', '1e+30', "'a'")
    """
    return repr(value.item() if isinstance(value, np.generic) else value)
