"""Type checks of plain data read back from files a user may have edited (a prompt file's
metadata, a library's manifest.json and JSON files), each problem described in words that name
the field, for a one-line error.

A schema maps a field to `(test, what it must be)`; `field_problem` returns the first problem:

>>> field_problem({"seed": "abc"}, {"seed": (is_integer, "an integer")})
'field \\'seed\\' must be an integer, got "abc"'
"""

from __future__ import annotations

import json
import math

import numpy as np


def is_number(value, integer: bool = False) -> bool:
    """True for an int (or, unless `integer`, a float); never for a bool or a string."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    return isinstance(value, kinds) and not isinstance(value, bool)


def is_integer(value) -> bool:
    return is_number(value, integer=True)


def is_finite(value) -> bool:
    """A number that is neither NaN nor infinite."""
    return is_number(value) and math.isfinite(value)


def is_text(value) -> bool:
    return isinstance(value, str)


def list_of(test):
    """A test for a list whose every item passes `test`."""
    return lambda value: isinstance(value, list) and all(test(item) for item in value)


def object_of(test):
    """A test for a JSON object whose every value passes `test`."""
    return lambda value: isinstance(value, dict) and all(test(item) for item in value.values())


def field_problem(data, schema: dict, required=(), where: str = "") -> str | None:
    """The first field of `schema` that is missing from the object `data` (when `required`) or
    whose value fails its test, described (`where` prefixes the field's name); None when all pass."""
    if not isinstance(data, dict):
        return f"{where.rstrip('.') or 'the data'} must be an object, got {json.dumps(data)[:40]}"
    for name, (test, kind) in schema.items():
        if name not in data:
            if name in required:
                return f"field {where + name!r} is missing"
        elif not test(data[name]):
            return f"field {where + name!r} must be {kind}, got {json.dumps(data[name])[:40]}"
    return None
