r"""RestrictedPython compilation of plugin source and the guarded globals it runs with.

Why these guards: RestrictedPython rewrites attribute reads to ``_getattr_``, subscripts to
``_getitem_``, iteration to ``_getiter_`` and attribute/item stores to ``_write_``; the
safety of the result is exactly the safety of the functions we plug in (its own "Security
considerations" page says so). Ours:

* ``_getattr_`` — the numpy allowlist (:mod:`._npfacade`) first, then RestrictedPython's
  own ``safer_getattr`` (its raising variant; never a hand-written replacement), which
  refuses ``_``-names, frame/generator/code attributes and ``str.format``/
  ``string.Formatter`` walks. ``mro``
  is refused too: it would hand out ``object`` and ``BaseException``.
* ``_write_`` — element writes into numpy arrays (through a proxy that cannot set
  attributes), writes to ``dict``/``list`` and to instances of classes the plugin defined;
  never to modules, facades, classes or functions.
* builtins — RestrictedPython's ``safe_builtins`` minus ``setattr``/``delattr`` and the
  ``BaseException`` family a plugin could use to unwind past the host, plus iteration
  helpers that go through ``_getiter_``. No ``open``, ``exec``, ``eval``, ``compile``,
  ``globals``, ``getattr``, ``type``, ``object``, ``format``, ``string``, ``operator``.
* ``__import__`` — ``math`` and ``numpy`` only, and they are :class:`~._npfacade.Facade`
  objects, never real modules.

Example:
    >>> code = compile_plugin(b"import math\nclass P:\n    k = math.pi\n", "p.py")
    >>> ns = plugin_globals()
    >>> exec(code, ns)  # noqa: S102
    >>> round(ns["P"].k, 2)
    3.14
"""

from __future__ import annotations

import importlib
import operator
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, final

import numpy as np
from RestrictedPython.compile import compile_restricted_exec
from RestrictedPython.Guards import (
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
    safer_getattr_raise,
)
from RestrictedPython.PrintCollector import PrintCollector

from ..errors import PluginValidationError
from ._npfacade import (
    Facade,
    array_attribute_allowed,
    math_facade,
    numpy_facade,
    wrap_array_attribute,
)

#: Builtins from ``safe_builtins`` that plugins do not get: unguarded writers, and the
#: ``BaseException`` branches that are not ``Exception`` (raising them would unwind past the
#: host's ``except Exception``).
_DROPPED_BUILTINS: Final = frozenset(
    ("setattr", "delattr", "BaseException", "KeyboardInterrupt", "SystemExit", "GeneratorExit")
)
#: Attribute names refused on every object, on top of ``safer_getattr``'s rules.
_REFUSED_ATTRIBUTES: Final = frozenset(("mro", "format", "format_map"))
_INPLACE: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow,
    "<<=": operator.ilshift, ">>=": operator.irshift, "&=": operator.iand,
    "|=": operator.ior, "^=": operator.ixor, "@=": operator.imatmul,
}  # fmt: skip
#: Name the plugin module runs as (plugin classes get it as ``__module__``).
MODULE_NAME: Final = "aers_plugin"


#: RestrictedPython's guard, typed for us (the library's signature is untyped).
_safer_getattr: Callable[[object, str], Any] = safer_getattr_raise


class PluginMeta(type):
    """Metaclass of every class plugin code defines: how ``_write_`` recognises them.

    Instances of plugin classes are the plugin's own state and may be written; the classes
    themselves may not (that would let one instance change another's behaviour).
    """


def _refuse(what: str) -> TypeError:
    return TypeError(f"plugins may not {what}")


def _is_closed_object(obj: object) -> bool:
    """Modules and facades: nothing a plugin may index, iterate, or write."""
    return isinstance(obj, types.ModuleType | Facade)


def guarded_getattr(obj: object, name: str) -> Any:
    """[any-thread] ``_getattr_``: numpy allowlist, then RestrictedPython's ``safer_getattr``.

    The raising variant (``safer_getattr_raise``): a missing attribute is an
    ``AttributeError``, not a silent ``None``.
    """
    if name in _REFUSED_ATTRIBUTES:
        raise AttributeError(f'"{name}" is not available to plugins')
    allowed = array_attribute_allowed(obj, name)
    if allowed is False:
        raise AttributeError(f'numpy objects expose no "{name}" to plugins')
    value = _safer_getattr(obj, name)
    return wrap_array_attribute(obj, name, value) if allowed else value


def guarded_getitem(obj: Any, index: Any) -> Any:
    """[any-thread] ``_getitem_``: plain indexing, except on modules and facades."""
    if _is_closed_object(obj):
        raise _refuse("index a module")
    return obj[index]


def guarded_iter(obj: Iterable[Any]) -> Iterator[Any]:
    """[any-thread] ``_getiter_``: plain iteration, except over modules and facades."""
    if _is_closed_object(obj):
        raise _refuse("iterate over a module")
    return iter(obj)


@final
class _ArrayItemWriter:
    """What ``_write_(array)`` returns: element/slice stores only, no attribute stores."""

    __slots__ = ("_array",)
    _array: np.ndarray[Any, Any]

    def __init__(self, array: np.ndarray[Any, Any]) -> None:
        object.__setattr__(self, "_array", array)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._array[index] = value

    def __delitem__(self, index: Any) -> None:
        raise _refuse("delete array elements")

    def __setattr__(self, name: str, value: object) -> None:
        raise _refuse(f"set attribute {name!r} of an array")

    def __delattr__(self, name: str) -> None:
        raise _refuse(f"delete attribute {name!r} of an array")


def guarded_write(obj: Any) -> Any:
    """[any-thread] ``_write_``: arrays (elements only), dicts, lists, plugin instances."""
    if isinstance(obj, np.ndarray):
        return _ArrayItemWriter(obj)
    if type(obj) in (dict, list) or (
        isinstance(type(obj), PluginMeta) and not isinstance(obj, type)
    ):
        return obj
    raise _refuse(f"modify {type(obj).__name__} objects")


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    """``_inplacevar_``: ``x += y`` on a local name (RestrictedPython forbids it elsewhere)."""
    func = _INPLACE.get(op)
    if func is None:
        raise _refuse(f"use the operator {op}")
    return func(target, value)


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``_apply_``: calls with ``*args``/``**kwargs``."""
    return func(*args, **kwargs)


def _iterating(kind: Callable[..., Any]) -> Callable[..., Any]:
    """A builtin that consumes an iterable, made to go through ``_getiter_`` first.

    Why: RestrictedPython 9 dropped ``tuple``/``sorted``/``zip`` from ``safe_builtins``
    because they iterate in C and bypass the guard.
    """

    def call(iterable: Iterable[Any] = (), *args: Any, **kwargs: Any) -> Any:
        return kind(guarded_iter(iterable), *args, **kwargs)

    call.__name__ = getattr(kind, "__name__", "iterating")
    return call


def _zip(*iterables: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
    return zip(*(guarded_iter(it) for it in iterables), strict=False)


def _is_c_api_import(fromlist: object, level: int) -> bool:
    """Whether CPython's ``PyImport_Import`` (C code) is calling, not plugin bytecode.

    C code (numpy's lazy ``numpy._core._methods``...) imports through the *calling frame's*
    ``__import__``, which is ours while plugin code is on the stack. It passes an empty
    *list* as ``fromlist``; bytecode passes None or a tuple, and plugin source cannot call
    ``__import__`` itself (a refused name). C callers ignore our return value and read
    ``sys.modules`` themselves, so nothing reaches the plugin.
    """
    return type(fromlist) is list and not fromlist and level == 0


#: The only modules plugin code may import (each is a facade object, never the module).
ALLOWED_IMPORTS: Final = ("math", "numpy")


def _make_importer(modules: dict[str, Facade]) -> Callable[..., Facade | None]:
    def restricted_import(
        name: str, globals_: object = None, locals_: object = None,
        fromlist: object = (), level: int = 0,
    ) -> Facade | None:  # fmt: skip
        if _is_c_api_import(fromlist, level) and name.split(".", 1)[0] == "numpy":
            importlib.import_module(name)  # numpy importing its own submodule for itself
            return None
        facade = modules.get(name) if level == 0 else None
        if facade is None:
            allowed = " and ".join(ALLOWED_IMPORTS)
            raise ImportError(f"plugins may import only {allowed}, not {name!r}")
        return facade

    return restricted_import


def plugin_builtins() -> dict[str, Any]:
    """[main-thread] ``__builtins__`` of plugin code (fresh per plugin: no cross-talk)."""
    builtins = {k: v for k, v in safe_builtins.items() if k not in _DROPPED_BUILTINS}
    consumers: tuple[tuple[str, Callable[..., Any]], ...] = (
        ("list", list), ("tuple", tuple), ("sorted", sorted), ("set", set),
        ("frozenset", frozenset), ("sum", sum), ("any", any), ("all", all),
        ("enumerate", enumerate),
    )  # fmt: skip
    for name, func in consumers:
        builtins[name] = _iterating(func)
    # min/max take several positional values and dict takes a mapping: not wrapped; none
    # of them can reach more than the plugin already holds.
    builtins.update(zip=_zip, min=min, max=max, dict=dict)
    facades = {"math": math_facade(), "numpy": numpy_facade()}
    builtins["__import__"] = _make_importer({name: facades[name] for name in ALLOWED_IMPORTS})
    return builtins


def plugin_globals() -> dict[str, Any]:
    """[main-thread] Fresh module globals for one plugin: guarded hooks, facades via import only."""
    return {
        "__builtins__": plugin_builtins(),
        "__name__": MODULE_NAME,
        "__metaclass__": PluginMeta,
        "_getattr_": guarded_getattr,
        "_getitem_": guarded_getitem,
        "_getiter_": guarded_iter,
        "_write_": guarded_write,
        "_inplacevar_": _inplacevar,
        "_apply_": _apply,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_print_": PrintCollector,
    }


def compile_plugin(source: bytes, filename: str) -> types.CodeType:
    """[main-thread] Compile plugin source under RestrictedPython's rules.

    Raises:
        PluginValidationError: the source is not UTF-8, has a syntax error, or uses a
            construct RestrictedPython refuses (``_``-names, ``try/except*``, frame
            attributes, positional-only guard shadowing...); every reason is listed.
    """
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PluginValidationError(filename, f"source is not UTF-8: {exc}") from exc
    code, errors = restricted_compile(text, filename)
    if errors or code is None:
        reasons = "; ".join(errors) or "compilation failed"
        raise PluginValidationError(filename, f"refused by the sandbox compiler: {reasons}")
    return code


def restricted_compile(text: str, filename: str) -> tuple[types.CodeType | None, tuple[str, ...]]:
    """[any-thread] RestrictedPython's compile with the sandbox's policy: code and errors.

    The one place the policy is chosen (RestrictedPython's default transformer, ``exec``
    mode), so the loader and ``aers plugin sign/verify/install`` cannot disagree.
    """
    result = compile_restricted_exec(text, filename=filename)
    return result.code, tuple(result.errors)


def load_plugin_class(source: bytes, filename: str, class_name: str) -> type:
    """[main-thread] Run the plugin module in fresh guarded globals and return its class.

    Raises:
        PluginValidationError: compilation refused, the module raised, or ``class_name`` is
            missing or not a class the plugin defined.
    """
    code = compile_plugin(source, filename)
    namespace = plugin_globals()
    try:
        exec(code, namespace)  # noqa: S102 - RestrictedPython-compiled code, guarded globals
    except Exception as exc:
        raise PluginValidationError(
            filename, f"module raised {type(exc).__name__}: {exc}"
        ) from None
    cls = namespace.get(class_name)
    if not isinstance(cls, PluginMeta):
        raise PluginValidationError(filename, f"defines no class {class_name!r}")
    return cls
