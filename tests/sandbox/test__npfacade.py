"""The numpy facade: every escape route named in docs/plugins.md ("The sandbox's numpy") is absent or refused."""

from __future__ import annotations

import pytest

from aers_host.sandbox._npfacade import Facade, math_facade, numpy_facade

from .test__restricted import run_in_plugin


@pytest.mark.security
@pytest.mark.parametrize(
    "name",
    ["lib", "ctypeslib", "load", "save", "savez", "savetxt", "loadtxt", "genfromtxt", "fromfile",
     "memmap", "frombuffer", "fromstring", "seterrcall", "set_printoptions", "f2py", "testing",
     "ma", "core", "DataSource", "ndarray", "dtype", "lib.stride_tricks", "os", "sys",
     "__builtins__", "__dict__", "__name__", "__spec__", "errstate", "vectorize", "frompyfunc",
     "random", "linalg", "fft", "polynomial", "char", "rec", "emath", "show_config"],
)  # fmt: skip
def test_route_absent_from_facade(name: str) -> None:
    assert not hasattr(numpy_facade(), name)


@pytest.mark.security
@pytest.mark.parametrize(
    "expression",
    ["np.lib.stride_tricks.as_strided", "np.ctypeslib.as_array",
     "np.load('x.npy', allow_pickle=True)",
     "np.save('x', np.zeros(1))", "np.zeros(2).tofile('x')", "np.fromfile('x')", "np.memmap('x')",
     "np.zeros(2).ctypes", "np.zeros(2).data", "np.zeros(2)[:1].base", "np.zeros(2).flags",
     "np.zeros(2).dump('x')", "np.zeros(2).dumps()", "np.zeros(2).view", "np.zeros(2).setflags",
     "np.frombuffer(b'1234')", "np.seterrcall(print)", "np.set_printoptions(precision=1)",
     "np.f2py", "np.testing", "np.ma.core", "np.float32(1).tofile", "np.float32.tofile",
     "np.zeros(2).dtype.type", "np.sin.reduce", "np.zeros(2).flat"],
)  # fmt: skip
def test_route_refused_inside_plugin(expression: str) -> None:
    with pytest.raises((AttributeError, NameError, TypeError, ImportError)):
        run_in_plugin(f"result = {expression}")


@pytest.mark.security
@pytest.mark.parametrize(
    "expression",
    ["np.array([1], dtype=object)", "np.zeros(2, object)", "np.array([print])",
     "np.zeros(2).astype(object)", "np.zeros(2).astype('O')", "np.full(2, None)",
     "np.add(np.zeros(2), 1, dtype=object)"],
)  # fmt: skip
def test_object_dtype_refused(expression: str) -> None:
    with pytest.raises((TypeError, NameError)):
        run_in_plugin(f"result = {expression}")


@pytest.mark.security
def test_attribute_error_carries_no_module() -> None:
    # AttributeError.obj of a pass-through getattr would be the real numpy module.
    result = run_in_plugin(
        "try:\n    np.nope\n    result = None\nexcept AttributeError as e:\n    result = e.obj"
    )
    assert result is None or isinstance(result, Facade)


@pytest.mark.security
def test_numpy_errors_reraised_as_plain_builtins() -> None:
    result = run_in_plugin(
        "try:\n    np.zeros((2, 2)).sum(axis=5)\n    result = None\n"
        "except Exception as e:\n    result = e"
    )
    assert type(result) in (ValueError, IndexError) and result.__context__ is None  # type: ignore[union-attr]


@pytest.mark.security
def test_facade_is_read_only() -> None:
    facade = numpy_facade()
    with pytest.raises(TypeError):
        facade.sin = None  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        del facade.sin  # type: ignore[attr-defined]


def test_math_facade_has_functions_but_is_not_a_module() -> None:
    facade = math_facade()
    assert facade.sqrt(4.0) == 2.0 and not hasattr(facade, "__name__")


def test_ordinary_dsp_works() -> None:
    result = run_in_plugin(
        "x = np.linspace(0.0, 1.0, 8, dtype=np.float32)\n"
        "y = np.clip(np.tanh(x * 2.0), -1.0, 1.0)\n"
        "result = float(np.sum(y * np.hanning(8)).round(3)) + float(y.max() + y.mean())"
    )
    assert isinstance(result, float)
