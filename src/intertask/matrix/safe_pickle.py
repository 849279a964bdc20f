"""Read a pickle a stranger made without running its code: plain data and numpy arrays only.

A pickle names callables that unpickling calls, so `pickle.load` on a user's file can run anything.
`load_plain(path)` follows the Python documentation's "Restricting Globals" recipe
(https://docs.python.org/3/library/pickle.html#restricting-globals): containers, strings and numbers need
no global; of the globals only those numpy uses to rebuild arrays, dtypes and scalars are admitted, and
any other makes it stop with one `IntertaskError` line naming the file and the refused global.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path

from intertask.errors import IntertaskError

ALLOWED = frozenset({
    ("numpy._core.multiarray", "_reconstruct"),  # ndarray, protocols 2–4
    ("numpy._core.multiarray", "scalar"),  # numpy scalars (np.float64(...))
    ("numpy._core.numeric", "_frombuffer"),  # ndarray, protocol 5
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes in protocol 2 (Python 2 compatible) pickles, e.g. array data
    ("builtins", "set"),
    ("builtins", "frozenset"),
})


class _Refused(pickle.UnpicklingError):
    """The pickle names a global outside `ALLOWED`."""


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        canonical = module.replace("numpy.core.", "numpy._core.", 1)  # numpy 1.x names, numpy 2.x modules
        canonical = "builtins" if canonical == "__builtin__" else canonical  # protocol 2's Python 2 name
        if (canonical, name) not in ALLOWED:
            raise _Refused(f"{module}.{name}")
        return getattr(importlib.import_module(canonical), name)


def load_plain(path):
    """The object in the pickle at `path`, read with only plain data and numpy arrays allowed."""
    path = Path(path)
    if not path.is_file():
        raise IntertaskError(f"no file {str(path)!r}")
    with open(path, "rb") as handle:
        try:
            return _PlainUnpickler(handle).load()
        except _Refused as err:
            raise IntertaskError(f"refusing to unpickle {str(path)!r}: it calls {err}, which could run code; "
                                 "only plain data and numpy arrays are read") from None
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
                MemoryError) as err:
            raise IntertaskError(f"{str(path)!r} is not a readable pickle ({type(err).__name__}: {err})") from None
