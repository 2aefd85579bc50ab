"""The ``numpy`` and ``math`` that plugin code sees: frozen facades built from allowlists.

Why a facade and not the module: numpy hands out the host through routes RestrictedPython's
name rules never see (docs/plugins.md, "The sandbox's numpy") — lazily imported submodules
(``f2py``, ``ma.core``, ``testing``, ``ctypeslib``) that hold ``os``/``sys``/``subprocess``;
``np.load(..., allow_pickle=True)`` unpickling with no file at all; file readers and
writers (``save*``, ``load*``, ``memmap``, ``tofile``, ``fromfile``, ``DataSource``); raw memory
(``ndarray.ctypes/.data/.base``, ``as_strided``, ``frombuffer``) and process-wide state
(``seterrcall``, ``set_printoptions``).

Invariants:
    * A :class:`Facade` holds only the names listed here; there is no pass-through
      ``getattr(np, name)``, so a name that is not listed does not exist for plugins, and a
      failed lookup raises a fresh ``AttributeError`` that carries no module.
    * Every numpy callable is wrapped: ``dtype=object`` (or a result of object dtype) is
      refused, and numpy's exceptions are re-raised as plain builtin exceptions carrying only
      the message — no ``.obj``, no ``__context__`` leading back into numpy internals.
    * :func:`array_attribute_allowed` is the ``ndarray``/scalar attribute allowlist the
      restricted ``_getattr_`` consults before RestrictedPython's ``safer_getattr``.

Example:
    >>> np_ = numpy_facade()
    >>> float(np_.sin(np_.zeros(1))[0])
    0.0
    >>> hasattr(np_, "save"), hasattr(np_, "lib"), hasattr(np_, "ctypeslib")
    (False, False, False)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final, NoReturn, final

import numpy as np

_MISSING: Final = object()

#: numpy functions plugins may call (math, construction into fresh arrays, reductions).
NUMPY_FUNCTIONS: Final = (
    "abs", "absolute", "add", "all", "allclose", "amax", "amin", "any", "arange", "arccos",
    "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "argmax", "argmin",
    "argsort", "around", "array", "asarray", "ascontiguousarray", "broadcast_to", "cbrt",
    "ceil", "clip", "concatenate", "convolve", "copy", "copysign", "copyto", "cos", "cosh",
    "cumprod", "cumsum", "deg2rad", "diff", "divide", "dot", "empty", "empty_like", "exp",
    "exp2", "expm1", "fabs", "flip", "floor", "floor_divide", "fmax", "fmin", "fmod", "full",
    "full_like", "hanning", "hamming", "blackman", "hypot", "interp", "isclose", "isfinite",
    "isinf", "isnan", "linspace", "log", "log10", "log1p", "log2", "logspace", "max",
    "maximum", "mean", "median", "min", "minimum", "mod", "multiply", "nan_to_num",
    "negative", "ones", "ones_like", "outer", "power", "prod", "rad2deg", "ravel",
    "reciprocal", "remainder", "repeat", "reshape", "rint", "roll", "round", "sign",
    "signbit", "sin", "sinc", "sinh", "sort", "sqrt", "square", "stack", "std", "subtract",
    "sum", "take", "tan", "tanh", "tile", "transpose", "true_divide", "trunc", "unwrap",
    "var", "vstack", "hstack", "where", "zeros", "zeros_like",
)  # fmt: skip

#: Scalar types (classes) plugins may name as dtypes or call to convert.
NUMPY_TYPES: Final = ("bool_", "float32", "float64", "int16", "int32", "int64", "complex64",
                      "complex128", "uint8", "int8", "uint16", "uint32")  # fmt: skip

#: Plain constants.
NUMPY_CONSTANTS: Final = ("pi", "e", "inf", "nan", "newaxis", "euler_gamma")

#: ``ndarray`` (and numpy scalar) attributes and methods plugins may use. Absent on
#: purpose: ``ctypes``, ``data``, ``base``, ``flags``, ``flat``, ``tofile``, ``dump``,
#: ``dumps``, ``view``, ``setflags``, ``resize``, ``getfield``/``setfield``, ``__array_*__``.
ARRAY_ATTRIBUTES: Final = frozenset((
    "shape", "ndim", "size", "dtype", "T", "real", "imag", "itemsize", "nbytes",
    "all", "any", "argmax", "argmin", "argsort", "astype", "clip", "conj", "conjugate",
    "copy", "cumprod", "cumsum", "diagonal", "dot", "fill", "flatten", "item", "max", "mean",
    "min", "nonzero", "prod", "put", "ravel", "repeat", "reshape", "round", "searchsorted",
    "sort", "squeeze", "std", "sum", "swapaxes", "take", "tolist", "trace", "transpose",
    "var",
))  # fmt: skip

#: Attributes of ``np.dtype`` objects (``.type`` would hand out a class; ``.fields``/
#: ``.base``/``.metadata`` reach further).
DTYPE_ATTRIBUTES: Final = frozenset(("name", "kind", "itemsize", "char", "str"))

#: Exception types plugins may see; anything else from numpy becomes ``ValueError``.
_PLAIN_ERRORS: Final = (
    FloatingPointError, ZeroDivisionError, OverflowError, MemoryError, IndexError,
    KeyError, TypeError, ValueError, ArithmeticError,
)  # fmt: skip
_ALLOWED_DTYPE_KINDS: Final = frozenset("biufc")


@final
class Facade:
    """A read-only namespace of allowlisted members standing in for a module.

    Why not ``types.SimpleNamespace``: that is writable and has a ``__dict__``. A facade
    refuses writes, has no ``__name__`` (so ``from numpy import lib`` cannot fall back to
    ``sys.modules['numpy.lib']``) and answers unknown names with a clean error.
    """

    __slots__ = ("_label", "_members")

    def __init__(self, label: str, members: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_members", dict(members))

    def __getattr__(self, name: str) -> Any:
        members: dict[str, Any] = object.__getattribute__(self, "_members")
        value = members.get(name, _MISSING)
        if value is _MISSING:
            label = object.__getattribute__(self, "_label")
            _raise_plain(AttributeError, f"{label}.{name} is not available to plugins")
        return value

    def __setattr__(self, name: str, value: object) -> None:
        raise TypeError("plugin facades are read-only")

    def __delattr__(self, name: str) -> None:
        raise TypeError("plugin facades are read-only")

    def __dir__(self) -> list[str]:
        return sorted(object.__getattribute__(self, "_members"))

    def __repr__(self) -> str:
        return f"<plugin facade {object.__getattribute__(self, '_label')}>"


def _raise_plain(kind: type[BaseException], message: str) -> NoReturn:
    """Raise ``kind(message)`` outside any ``except`` block, so it has no ``__context__``."""
    raise kind(message)


def _check_dtype(value: object) -> None:
    """Refuse dtypes that are not plain numbers (object, void, string, datetime)."""
    try:
        kind = np.dtype(value).kind  # type: ignore[call-overload]
    except TypeError:
        kind = "?"
    if kind not in _ALLOWED_DTYPE_KINDS:
        _raise_plain(TypeError, f"dtype {value!r} is not allowed in plugins (numbers only)")


def _check_result(result: object) -> object:
    """Refuse object arrays, however they came about (``np.array([f])`` infers object)."""
    if isinstance(result, np.ndarray | np.generic) and result.dtype.hasobject:
        _raise_plain(TypeError, "arrays of Python objects are not allowed in plugins")
    if isinstance(result, tuple):
        for item in result:
            _check_result(item)
    return result


def guarded_call(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """[any-thread] Wrap a numpy callable: refuse object dtypes, strip numpy's exception objects.

    Why: ``dtype=object`` makes ufuncs call methods by name in C, bypassing every guard;
    numpy exceptions may carry internals (``AttributeError.obj`` is the real module).
    """

    def call(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("dtype") is not None:
            _check_dtype(kwargs["dtype"])
        if "signature" in kwargs:
            _raise_plain(TypeError, f"{name}(signature=...) is not allowed in plugins")
        error: tuple[type[BaseException], str] | None = None
        try:
            result = func(*args, **kwargs)
        except _PLAIN_ERRORS as exc:
            error = (_plain_type(exc), str(exc)[:300])
        except Exception as exc:  # numpy raises its own types; plugins see ValueError
            error = (ValueError, str(exc)[:300])
        if error is not None:
            _raise_plain(*error)
        return _check_result(result)

    call.__name__ = call.__qualname__ = name
    return call


def _plain_type(exc: BaseException) -> type[BaseException]:
    """The first builtin type in ``_PLAIN_ERRORS`` that ``exc`` is an instance of."""
    for kind in _PLAIN_ERRORS:
        if isinstance(exc, kind):
            return kind
    return ValueError


def array_attribute_allowed(obj: object, name: str) -> bool | None:
    """[any-thread] May plugins read ``obj.name``? None when ``obj`` is not a numpy object.

    Numpy classes themselves (``np.float32.tofile``) expose nothing; any other numpy object
    (ufuncs, iterators, ``finfo``...) exposes nothing either.
    """
    if isinstance(obj, np.ndarray | np.generic):
        return name in ARRAY_ATTRIBUTES
    if isinstance(obj, np.dtype):
        return name in DTYPE_ATTRIBUTES
    if isinstance(obj, type):
        return False if obj.__module__.startswith("numpy") else None
    if type(obj).__module__.startswith("numpy"):
        return False
    return None


def wrap_array_attribute(obj: object, name: str, value: Any) -> Any:
    """[any-thread] Wrap array methods like facade functions.

    Results are re-checked (``astype(object)``) and numpy's exception types replaced by
    plain builtins.
    """
    if callable(value) and isinstance(obj, np.ndarray | np.generic):
        return guarded_call(name, value)
    return value


def numpy_facade() -> Facade:
    """[main-thread] The ``numpy`` plugins import: wrapped functions, types, constants."""
    members: dict[str, Any] = {
        name: guarded_call(name, getattr(np, name)) for name in NUMPY_FUNCTIONS
    }
    members.update({name: getattr(np, name) for name in NUMPY_TYPES})
    members.update({name: getattr(np, name) for name in NUMPY_CONSTANTS})
    return Facade("numpy", members)


def math_facade() -> Facade:
    """[main-thread] The ``math`` plugins import: its functions and constants, not the module."""
    members = {name: getattr(math, name) for name in dir(math) if not name.startswith("_")}
    return Facade("math", members)
