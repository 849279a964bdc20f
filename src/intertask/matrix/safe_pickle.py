"""Read a pickle a stranger made without running its code: plain data and numpy arrays only.

A pickle names callables that unpickling calls, so `pickle.load` on a user's file can run anything.
`load_plain(path)` follows the Python documentation's "Restricting Globals" recipe
(https://docs.python.org/3/library/pickle.html#restricting-globals): containers, strings and numbers need
no global; of the globals only those numpy uses to rebuild arrays, dtypes and scalars are admitted, and
any other makes it stop with one `IntertaskError` line naming the file and the refused global.

Plain data alone can still hurt: a tuple nested 300,000 deep used as a dict key overflows the C stack
while the unpickler hashes it (the process dies), a list nested that deep breaks every `repr`, and an
integer of 10**400 breaks every conversion to float. So before anything is built, `_check_shapes` walks
the opcode stream (`pickletools.genops`, which builds nothing) and tracks, for every value on the
unpickler's stack and in its memo, how deeply it nests: an atom has depth 0, a container
1 + the deepest value put in it. A value deeper than `MAX_DEPTH` or an integer beyond `MAX_INT_BITS`
bits is refused with one line. A container changed after it was put inside another (only a
self-referencing structure needs that) is refused too, since the depth of what holds it would change
unseen.
"""

from __future__ import annotations

import importlib
import io
import pickle
import pickletools
from pathlib import Path

from intertask.errors import IntertaskError
from intertask.paths import is_input_file

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
MAX_DEPTH = 100  # nesting levels of containers (scores files need about 5, a numpy array about 4)
MAX_INT_BITS = 64  # a score, seed or count; 10**400 is none of these
MAX_PICKLE_BYTES = 2 * 2**30  # the file is read whole into memory
INTEGERS = frozenset({"INT", "LONG", "LONG1", "LONG4"})  # the opcodes whose integers may be of any size
CHANGES_IN_PLACE = frozenset({"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"})


class _Refused(pickle.UnpicklingError):
    """The pickle names a global outside `ALLOWED`."""


class _Unsafe(Exception):
    """The pickle's data is nested too deeply, holds a too large integer or changes what it nested."""


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        canonical = module.replace("numpy.core.", "numpy._core.", 1)  # numpy 1.x names, numpy 2.x modules
        canonical = "builtins" if canonical == "__builtin__" else canonical  # protocol 2's Python 2 name
        if (canonical, name) not in ALLOWED:
            raise _Refused(f"{module}.{name}")
        return getattr(importlib.import_module(canonical), name)


class _Value:
    """A value on the simulated stack: how deeply it nests, and whether it is inside another value."""

    __slots__ = ("depth", "nested")

    def __init__(self, depth: int):
        self.depth, self.nested = depth, False


_MARK = pickletools.markobject
# per opcode: (values it takes below its mark, or None without a mark; values it takes; values it leaves)
_EFFECTS = {op.name: (op.stack_before.index(_MARK) if _MARK in op.stack_before else None, len(op.stack_before),
                      len(op.stack_after)) for op in pickletools.opcodes}
MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
MEMO_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})
ATOMS = frozenset(name for name, (_, n_before, n_after) in _EFFECTS.items()  # numbers, strings, globals, …
                  if (n_before, n_after) == (0, 1) and name not in MEMO_GETS | {"MARK", "EMPTY_LIST", "EMPTY_DICT",
                                                                                "EMPTY_SET"})
ATOM = _Value(0)  # what an opcode of ATOMS makes from nothing: nothing changes it in place


def _check_shapes(data: bytes) -> None:
    """Raise `_Unsafe` when the pickle `data` would build a value nested deeper than `MAX_DEPTH`, an integer
    of more than `MAX_INT_BITS` bits, or change a container it had already nested; build nothing.

    Each opcode's stack effect is pickletools' `stack_before` → `stack_after`; a value an opcode builds
    from others has depth 1 + the deepest of them, and a container changed in place (APPEND, SETITEM,
    ADDITEMS, BUILD, …) grows to 1 + the deepest value put in it. A stream the unpickler itself would
    reject may stop here with `ValueError` (genops) or `IndexError`/`KeyError` (an empty stack or memo).
    """
    stack: list[_Value] = []
    marks: list[int] = []
    memo: dict = {}
    for opcode, arg, _ in pickletools.genops(data):
        name = opcode.name
        if name in ATOMS:
            if name in INTEGERS and isinstance(arg, int) and arg.bit_length() > MAX_INT_BITS:
                raise _Unsafe(f"an integer of {arg.bit_length()} bits (at most {MAX_INT_BITS} are read)")
            stack.append(ATOM)
        elif name == "MARK":
            marks.append(len(stack))
        elif name == "POP":
            if stack and (not marks or len(stack) > marks[-1]):
                stack.pop()
            else:
                marks.pop()  # as the unpickler does: POP on an empty stack above a mark drops the mark
        elif name == "POP_MARK":
            del stack[marks.pop():]
        elif name == "DUP":
            stack.append(stack[-1])
        elif name in MEMO_PUTS:
            memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
        elif name in MEMO_GETS:
            stack.append(memo[arg])
        else:
            below_mark, n_before, n_after = _EFFECTS[name]
            start = len(stack) - n_before if below_mark is None else marks.pop() - below_mark
            if start < 0:
                raise IndexError("the stack is empty")
            taken, stack[start:] = stack[start:], []
            changed, items = (taken[0], taken[1:]) if name in CHANGES_IN_PLACE else (None, taken)
            inner = 1 + max((v.depth for v in items), default=-1)
            for value in items:
                value.nested = True
            if changed is None:
                stack += [_Value(inner) for _ in range(n_after)]
            elif changed is ATOM:
                raise _Unsafe(f"{name} on a value that is no container")
            elif changed.nested and inner > changed.depth:
                raise _Unsafe("a container changed after it was nested in another (a self-referencing structure)")
            else:
                changed.depth = max(changed.depth, inner)
                stack.append(changed)
            if inner > MAX_DEPTH:
                raise _Unsafe(f"data nested more than {MAX_DEPTH} levels deep")


def load_plain(path):
    """The object in the pickle at `path`, read with only plain data and numpy arrays allowed, nested at
    most `MAX_DEPTH` levels deep, with integers of at most `MAX_INT_BITS` bits."""
    path = Path(path)
    if not is_input_file(path, "give a pickle file"):  # a FIFO would block, /dev/zero would never end
        raise IntertaskError(f"no file {str(path)!r}")
    if path.stat().st_size > MAX_PICKLE_BYTES:
        raise IntertaskError(f"{str(path)!r} is {path.stat().st_size / 2**30:.1f} GiB; intertask reads pickles "
                             f"up to {MAX_PICKLE_BYTES // 2**30} GiB")
    try:
        data = path.read_bytes()
        _check_shapes(data)
        return _PlainUnpickler(io.BytesIO(data)).load()
    except _Refused as err:
        raise IntertaskError(f"refusing to unpickle {str(path)!r}: it calls {err}, which could run code; "
                             "only plain data and numpy arrays are read") from None
    except _Unsafe as err:
        raise IntertaskError(f"refusing to unpickle {str(path)!r}: it holds {err}; only plain data of "
                             "scores is read") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, OSError) as err:
        raise IntertaskError(f"{str(path)!r} is not a readable pickle ({type(err).__name__}: {err})") from None
