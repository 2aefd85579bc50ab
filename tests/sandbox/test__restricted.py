"""The RestrictedPython layer: compile refusals, guards, and each published advisory."""

from __future__ import annotations

import string
import textwrap

import numpy as np
import pytest
from RestrictedPython.Guards import safer_getattr_raise

from aers_host.errors import PluginValidationError
from aers_host.sandbox._restricted import compile_plugin, load_plugin_class, plugin_globals


def run_in_plugin(body: str) -> object:
    """Run ``body`` as the method of a plugin class and return its ``result`` variable."""
    lines = "".join(f"        {line}\n" for line in textwrap.dedent(body).splitlines())
    head = "import math\nimport numpy as np\n\nclass P:\n    def go(self):\n"
    source = f"{head}{lines}        return result\n"
    cls = load_plugin_class(source.encode(), "p.py", "P")
    return cls().go()


def refused_at_compile(source: str) -> str:
    with pytest.raises(PluginValidationError) as info:
        compile_plugin(textwrap.dedent(source).encode(), "p.py")
    return str(info.value)


# --- RestrictedPython advisories (one regression test each) --------------------------------


@pytest.mark.security
def test_advisory_generator_gi_frame_walk_refused() -> None:
    # CVE-2023-37271: frames reached through a generator lead to f_globals/f_builtins.
    message = refused_at_compile("g = (x for x in ())\nf = g.gi_frame.f_back.f_globals\n")
    assert "gi_frame" in message


@pytest.mark.security
def test_advisory_generator_frame_via_runtime_getattr_refused() -> None:
    with pytest.raises(PluginValidationError):
        compile_plugin(b"def f():\n    yield 1\ng = f()\nc = g.gi_code\n", "p.py")


@pytest.mark.security
def test_advisory_str_format_dunder_walk_refused() -> None:
    # CVE-2023-41039: '{0.__class__}'.format(x) walks attributes inside str.format.
    with pytest.raises((AttributeError, NotImplementedError), match="format"):
        run_in_plugin("result = '{0.__class__.__mro__}'.format(1)")
    with pytest.raises((AttributeError, NotImplementedError)):
        run_in_plugin("result = str.format('{0.__class__}', 1)")
    # The dependency's own guard (our second line of defence) still refuses it too.
    with pytest.raises(NotImplementedError):
        safer_getattr_raise("{0.__class__}", "format")


@pytest.mark.security
def test_advisory_str_format_map_refused() -> None:
    with pytest.raises((AttributeError, NotImplementedError)):
        run_in_plugin("result = '{x.__class__}'.format_map({'x': 1})")


@pytest.mark.security
def test_advisory_try_except_star_refused() -> None:
    # CVE-2025-22153: try/except* let an exception group carry an unguarded object.
    assert "except*" in refused_at_compile(
        "try:\n    pass\nexcept* ValueError:\n    pass\n"
    ) or "TryStar" in refused_at_compile("try:\n    pass\nexcept* ValueError:\n    pass\n")


@pytest.mark.security
def test_advisory_positional_only_guard_shadowing_refused() -> None:
    # RestrictedPython 8.3: a positional-only parameter named _getattr_ shadowed the guard.
    message = refused_at_compile("def f(_getattr_=None, /):\n    return (1).real\n")
    assert "_getattr_" in message


@pytest.mark.security
def test_advisory_string_formatter_unavailable() -> None:
    # CVE-2024-47532 / CVE-2026-76825: string.Formatter walks attributes like str.format.
    with pytest.raises(ImportError, match="only math and numpy"):
        run_in_plugin("import string\nresult = string.Formatter().format('{0.__class__}', 1)")
    with pytest.raises(NameError):
        run_in_plugin("result = string")
    with pytest.raises(NotImplementedError):
        safer_getattr_raise(string, "Formatter")


# --- guards ---------------------------------------------------------------------------------


@pytest.mark.security
@pytest.mark.parametrize(
    "source",
    [
        "x = ().__class__.__mro__",
        "x = (1).__class__.__subclasses__()",
        "import os as _os",
        "__import__('os')",
        "f = lambda: 0\ng = f.__globals__",
        "try:\n    pass\nexcept Exception as e:\n    t = e.__traceback__.tb_frame.f_globals",
    ],
)
def test_dunder_and_frame_access_refused_at_compile(source: str) -> None:
    refused_at_compile(source)


@pytest.mark.security
@pytest.mark.parametrize(
    "name", ["open", "exec", "eval", "compile", "globals", "locals", "vars", "getattr", "type",
             "object", "format", "setattr", "delattr", "exit", "quit", "input", "help",
             "memoryview", "bytearray", "BaseException", "SystemExit", "KeyboardInterrupt"],
)  # fmt: skip
def test_dangerous_builtins_absent(name: str) -> None:
    builtins = plugin_globals()["__builtins__"]
    assert name not in builtins


@pytest.mark.security
@pytest.mark.parametrize(
    "module",
    ["os", "sys", "subprocess", "socket", "ctypes", "importlib", "builtins", "string",
     "operator", "numpy.lib", "math.os"],
)  # fmt: skip
def test_imports_outside_allowlist_refused(module: str) -> None:
    with pytest.raises((ImportError, PluginValidationError)):
        run_in_plugin(f"import {module}\nresult = 1")


@pytest.mark.security
def test_numpy_internal_import_hook_gives_plugins_nothing() -> None:
    # numpy's C code imports through our __import__; plugin source cannot use that path.
    refused_at_compile("x = __import__('os', None, None, [], 0)")
    with pytest.raises(ImportError):
        run_in_plugin("import numpy._core._methods\nresult = 1")


@pytest.mark.security
def test_from_numpy_import_submodule_does_not_fall_back_to_sys_modules() -> None:
    # IMPORT_FROM retries sys.modules["numpy.lib"] when the module has a __name__.
    with pytest.raises(ImportError):
        run_in_plugin("from numpy import lib\nresult = lib")


@pytest.mark.security
def test_imported_modules_are_facades_not_modules() -> None:
    assert "facade" in repr(run_in_plugin("result = np")) and "facade" in repr(
        run_in_plugin("result = math")
    )


@pytest.mark.security
def test_mro_refused_so_object_and_baseexception_unreachable() -> None:
    with pytest.raises(AttributeError):
        run_in_plugin("result = ValueError.mro()")


@pytest.mark.security
def test_modules_and_classes_are_unwritable() -> None:
    with pytest.raises(TypeError):
        run_in_plugin("np.sin = None\nresult = 1")
    with pytest.raises(TypeError):
        run_in_plugin("P.go = None\nresult = 1")
    with pytest.raises(TypeError):
        run_in_plugin("math.pi = 3\nresult = 1")


@pytest.mark.security
def test_array_attribute_writes_refused_element_writes_allowed() -> None:
    assert run_in_plugin("a = np.zeros(3)\na[1] = 2.0\nresult = a.tolist()") == [0.0, 2.0, 0.0]
    with pytest.raises(TypeError):
        run_in_plugin("a = np.zeros(4)\na.shape = (2, 2)\nresult = a")


def test_plugin_instances_lists_and_dicts_are_writable() -> None:
    result = run_in_plugin(
        "self.x = 1\nd = {}\nd['a'] = 2\nl = [0]\nl[0] = 3\nresult = (self.x, d['a'], l[0])"
    )
    assert result == (1, 2, 3)


def test_missing_attribute_is_an_error_not_none() -> None:
    with pytest.raises(AttributeError):
        run_in_plugin("result = (1).nope")


def test_iteration_helpers_work() -> None:
    result = run_in_plugin(
        "result = (sorted([3, 1]), tuple(x for x in [1]), list(zip([1], [2])), sum([1, 2]))"
    )
    assert result == ([1, 3], (1,), [(1, 2)], 3)


def test_in_place_name_operators_work_on_arrays() -> None:
    result = run_in_plugin("a = np.ones(2)\na *= 3.0\nx = 1\nx += 1\nresult = (a.tolist(), x)")
    assert result == ([3.0, 3.0], 2)


def test_module_level_failure_is_a_validation_error() -> None:
    with pytest.raises(PluginValidationError, match="ImportError"):
        load_plugin_class(b"import os\nclass P:\n    pass\n", "p.py", "P")


def test_missing_class_is_a_validation_error() -> None:
    with pytest.raises(PluginValidationError, match="no class 'Q'"):
        load_plugin_class(b"class P:\n    pass\n", "p.py", "Q")


def test_non_utf8_source_refused() -> None:
    with pytest.raises(PluginValidationError, match="UTF-8"):
        compile_plugin(b"\xff\xfe", "p.py")


def test_numpy_results_are_real_arrays() -> None:
    result = run_in_plugin("result = np.sin(np.zeros(2, dtype=np.float32))")
    assert isinstance(result, np.ndarray) and result.dtype == np.float32
