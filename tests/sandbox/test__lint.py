"""Every reason the sandbox would refuse a plugin, listed at once, with the loader's rules.

Issue 21, item 1. Each construct is shown to be refused by the real loader too (compile
refusal, import refusal when the module runs, NameError for a missing builtin), so the lint
cannot drift from the policy it reports.
"""

from __future__ import annotations

import textwrap

import pytest

from aers_host.errors import PluginValidationError
from aers_host.plugins._scaffold import scaffold_files
from aers_host.sandbox import lint_plugin_files
from aers_host.sandbox._restricted import compile_plugin, load_plugin_class, plugin_globals

BROKEN = textwrap.dedent(
    """\
    import math
    import os
    from subprocess import run
    import numpy as np


    class _Helper:
        pass


    class Fx:
        def prepare(self, sample_rate, max_block, channels):
            self._rate = sample_rate

        def process(self, inp, out, start, events):
            out[0] += 1
            exec("x = 1")
            handle = open("/etc/passwd")
            np.multiply(inp, math.pi, out=out)
    """
).encode()


def test_every_problem_of_a_file_is_listed_with_line_construct_and_hint() -> None:
    found = [(p.line, p.path) for p in lint_plugin_files({"fx.py": BROKEN})]
    assert found == [
        (2, "import os"),
        (3, "from subprocess import run"),
        (7, "_Helper"),
        (13, "_rate"),
        (16, "out[0] += 1"),
        (17, 'exec("x = 1")'),
        (18, "open"),
    ]
    problems = {p.path: p for p in lint_plugin_files({"fx.py": BROKEN})}
    assert "leading underscore" in problems["_rate"].hint
    assert "only math and numpy" in problems["import os"].message
    assert "a[i] = a[i] + x" in problems["out[0] += 1"].hint
    assert "files" in problems["open"].hint
    assert str(problems["import os"]).startswith("fx.py:2: import os: ")


def test_every_file_is_checked_but_tests_are_not() -> None:
    files = {"fx.py": b"import os\n", "dsp/util.py": b"_x = 1\n", "test_fx.py": b"import os\n",
             "conftest.py": b"import sys\n", "notes.txt": b"import os\n"}  # fmt: skip
    assert sorted({p.file for p in lint_plugin_files(files)}) == ["dsp/util.py", "fx.py"]


def test_the_scaffold_is_clean() -> None:
    files = {k: v.encode() for k, v in scaffold_files("fuzz-box", "python").items()}
    assert lint_plugin_files(files) == []


@pytest.mark.parametrize(
    "source",
    ["class _P:\n    pass\n", "x = 1\nx.__class__\n", "exec('1')\n",
     "try:\n    pass\nexcept* ValueError:\n    pass\n", "def f(:\n    pass\n"],
)  # fmt: skip
def test_compile_refusals_are_the_loaders(source: str) -> None:
    with pytest.raises(PluginValidationError):
        compile_plugin(source.encode(), "p.py")
    (problem,) = lint_plugin_files({"p.py": source.encode()})
    assert problem.message.startswith("refused by the sandbox compiler")
    assert problem.line >= 1


@pytest.mark.parametrize("line", ["import os", "from os import path", "from . import sibling"])
def test_import_refusals_are_the_loaders(line: str) -> None:
    source = f"{line}\nclass P:\n    pass\n".encode()
    compile_plugin(source, "p.py")  # compiles: the refusal comes when the module runs ...
    with pytest.raises(PluginValidationError, match="ImportError"):
        load_plugin_class(source, "p.py", "P")
    (problem,) = lint_plugin_files({"p.py": source})  # ... and the lint names it up front
    assert problem.line == 1 and problem.path.startswith(("import", "from"))


@pytest.mark.parametrize("name", ["open", "getattr", "type", "globals"])
def test_missing_builtins_are_the_loaders(name: str) -> None:
    assert name not in plugin_globals()["__builtins__"]
    (problem,) = lint_plugin_files({"p.py": f"x = {name}\n".encode()})
    assert problem.path == name and problem.line == 1


def test_names_the_file_binds_are_not_flagged() -> None:
    source = textwrap.dedent(
        """\
        import numpy as np
        LIMIT = 3
        def helper(a, *rest, key=None, **more):
            total = sum(v for v in rest)
            try:
                pass
            except ValueError as err:
                total = err
            return [i for i in range(LIMIT)], total, np.pi, len(more)
        class P:
            def go(self):
                print(helper(1))
        """
    ).encode()
    assert lint_plugin_files({"p.py": source}) == []


def test_not_utf8_is_one_problem() -> None:
    (problem,) = lint_plugin_files({"p.py": b"x = 1\n\xff\n"})
    assert problem.line == 2 and "UTF-8" in problem.message
