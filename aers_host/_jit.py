"""numba kernels compiled on first use, so that importing a node type does not import numba.

``import numba`` costs about half a second and 110 MiB before a single kernel compiles.
``aers validate``, ``aers graph`` and ``--help`` only need the node types (schemas, checks,
channel rules), which live beside their processors and kernels; so a kernel module must be
importable without numba, and numba loads the first time a kernel is called, compiled
(:func:`aers_host._processor.compiled`) or warmed (``aers doctor --warm``).

Invariants:
    * A :class:`LazyKernel` behaves as the numba dispatcher it stands for: calling it, or
      reading any dispatcher attribute (``compile``, ``overloads``, ``py_func``), compiles
      it first, with the flags given once at decoration.
    * Kernels call kernels: numba types a ``LazyKernel`` global as its dispatcher (a
      ``typeof`` rule registered when numba is first imported here), so a compiled caller
      links the callee exactly as it would a plain ``@njit`` function.
    * The hot path does not go through the proxy: processors bind
      :func:`~aers_host._processor.compiled` entry points at prepare time, and a kernel
      made by :func:`lazy_njit` replaces itself in its module's globals with the
      dispatcher once made, so code calling it by its global name reaches numba directly
      (the proxy costs ~0.2 µs a call, as much as numba's own dispatch).

Example:
    >>> def twice(x):
    ...     return 2 * x
    >>> k = lazy_njit(cache=False)(twice)
    >>> k.materialized
    False
    >>> k(21), k.materialized
    (42, True)
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_typeof_registered = False


def _register_typeof() -> None:
    """Teach numba to type a :class:`LazyKernel` global as the dispatcher it wraps."""
    global _typeof_registered
    if _typeof_registered:
        return
    from numba.extending import typeof_impl

    @typeof_impl.register(LazyKernel)
    def _typeof_lazy(value: LazyKernel, context: Any) -> Any:
        return typeof_impl(value.dispatcher, context)

    _typeof_registered = True


class LazyKernel:
    """A numba dispatcher made on first use (see the module docstring)."""

    def __init__(self, make: Callable[[], Any], wrapped: Callable[..., Any]) -> None:
        """Wrap ``make``, which returns the dispatcher; ``wrapped`` names and documents it."""
        self._make = make
        self._dispatcher: Any = None
        self.__wrapped__ = wrapped
        self.__name__ = wrapped.__name__
        self.__qualname__ = wrapped.__qualname__
        self.__doc__ = wrapped.__doc__

    @property
    def materialized(self) -> bool:
        """Whether numba has been asked for the dispatcher yet."""
        return self._dispatcher is not None

    @property
    def dispatcher(self) -> Any:
        """[main-thread] The numba dispatcher, importing numba and creating it on first use."""
        if self._dispatcher is None:
            with _lock:
                if self._dispatcher is None:
                    _register_typeof()
                    self._dispatcher = self._make()
                    self._replace_global()
        return self._dispatcher

    def _replace_global(self) -> None:
        """Rebind the module global naming this proxy (if any) to the dispatcher itself."""
        module = sys.modules.get(getattr(self.__wrapped__, "__module__", None) or "")
        if module is not None and vars(module).get(self.__name__) is self:
            setattr(module, self.__name__, self._dispatcher)

    def __call__(self, *args: Any) -> Any:
        return self.dispatcher(*args)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # copy/pickle probes and our own slots before __init__
            raise AttributeError(name)
        return getattr(self.dispatcher, name)

    def __repr__(self) -> str:
        state = "compiled on demand" if self._dispatcher is None else repr(self._dispatcher)
        return f"<LazyKernel {self.__qualname__}: {state}>"


def lazy_njit(**flags: Any) -> Callable[[F], F]:
    """[main-thread] A decorator like ``numba.njit(**flags)``, compiling on first use.

    The result is typed as the decorated function, so callers keep its signature.
    """

    def decorate(fn: F) -> F:
        def make() -> Any:
            import numba

            return numba.njit(**flags)(fn)

        return cast(F, LazyKernel(make, fn))

    return decorate


def kernel_from(module: str, name: str) -> Any:
    """[main-thread] The kernel ``module.name``, imported only when it is first used.

    For kernels whose module needs numba at import (``numba.extending.intrinsic``):
    a caller's own kernels may reference the result as a global like any kernel.
    """

    def make() -> Any:
        target = getattr(importlib.import_module(module), name)
        return target.dispatcher if isinstance(target, LazyKernel) else target

    def placeholder(*args: Any) -> Any:  # pragma: no cover - only names the proxy
        raise NotImplementedError

    placeholder.__name__ = placeholder.__qualname__ = name
    placeholder.__module__ = __name__  # nothing to rebind: the importer keeps the proxy
    placeholder.__doc__ = f"{module}.{name}, imported on first use."
    return LazyKernel(make, placeholder)
