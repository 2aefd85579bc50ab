"""Plugins refused at load (compiler, importer, a worker that cannot start) fail their node,
not the run: the node outputs its fallback from the first block, reports ``failed`` and the
refusal as ``failure_reason``, and the refused code never runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aers_host import Processor
from aers_host.sandbox import RefusedProcessor, SandboxedProcessor

from ._graphs import chain_config, planned, step, step_plugin, with_plugins
from ._helpers import BLOCK, RATE, listing, plugin, process_body, run, signal_block

pytestmark = pytest.mark.security

#: Writes a file the moment any of its code runs (module level, ``prepare`` or ``process``).
_TOUCH = "np.save('/tmp/aers-evil-refused', np.zeros(1))"


#: name → (source, text the failure reason must contain)
def with_latency(declaration: str) -> str:
    """A plugin whose class declares ``latency_samples<declaration>`` and would touch a file."""
    return process_body(_TOUCH).replace(
        "class P:\n", f"class P:\n    latency_samples {declaration}\n"
    )


REFUSED = {
    "module_import_os": (
        "import os\nos.system('touch aers-evil')\nclass P:\n    pass\n",
        "only math and numpy",
    ),
    "eval_in_process": (process_body(f"{_TOUCH}\neval('1')"), "refused by the sandbox compiler"),
    "class_mro_walk": (
        process_body(f"{_TOUCH}\nx = ().__class__.__mro__"),
        "refused by the sandbox compiler",
    ),
    # A latency that would size a multi-TiB compensation line (was: exit 3), a negative one,
    # and ones the host cannot read without running the code.
    **{
        f"latency_{name}": (with_latency(declared), f"node 'n1': {reason}")
        for name, declared, reason in (
            (
                "huge",
                "= 10000000000000",
                "latency_samples = 10000000000000 is out of range; the limit is 0…480000 (10 s",
            ),
            ("negative", "= -64", "latency_samples = -64 is out of range"),
            (
                "computed",
                "= 64 * 2",
                "latency_samples = '64 * 2' is out of range; the limit is a whole-number literal",
            ),
            ("annotated_huge", ": int = 10**13", "latency_samples = '10 ** 13'"),
        )
    },
    "prepare_raises": (
        "import numpy as np\nclass P:\n    def prepare(self, rate, block, channels):\n"
        "        raise ValueError('no thanks')\n",
        "ValueError: no thanks",
    ),
}
#: A ``prepare`` that never returns: only a worker can be timed out (in-process it stalls).
LOOPING = (
    "import numpy as np\nclass P:\n    def prepare(self, rate, block, channels):\n"
    "        while True:\n            pass\n"
    "    def process(self, inp, out, start, events):\n"
    f"        {_TOUCH}\n"
)
CASES = [
    pytest.param(source, isolation, reason, {}, id=f"{name}-{isolation}")
    for name, (source, reason) in REFUSED.items()
    for isolation in ("in-process", "sandbox")
] + [
    pytest.param(
        LOOPING, "sandbox", "did not start within 0.5 s", {"start_timeout_s": 0.5},
        id="prepare_loops-sandbox",
    )
]  # fmt: skip


def assert_nothing_ran(cwd: Path) -> None:
    assert listing(cwd) == set()
    assert list(Path("/tmp").glob("aers-evil*")) == []


@pytest.mark.parametrize(("source", "isolation", "reason", "options"), CASES)
def test_a_refused_plugin_is_a_failed_node_on_bypass(
    source: str,
    isolation: str,
    reason: str,
    options: dict[str, Any],
    prepared: Any,
    sandbox_cwd: Path,
) -> None:
    proc = prepared(source, isolation=isolation, **options)
    assert isinstance(proc, Processor) and callable(proc.close)
    assert proc.failed and reason in proc.failure_reason
    assert "\n" not in proc.failure_reason
    outs = run(proc, 3)
    for k, out in enumerate(outs):
        np.testing.assert_array_equal(out, signal_block(k * BLOCK))  # bypass → the input
    assert proc.fallback_blocks == 3 and proc.errors == 0 and proc.xruns == 0
    assert_nothing_ran(sandbox_cwd)


@pytest.mark.parametrize("isolation", ["in-process", "sandbox"])
def test_silence_fallback_and_a_source_shaped_block_give_silence(
    isolation: str, prepared: Any
) -> None:
    proc = prepared(process_body("eval('1')"), isolation=isolation, fallback="silence")
    assert run(proc, 2)[1].tolist() == np.zeros((2, BLOCK)).tolist()
    bypass = prepared(process_body("eval('1')"), isolation=isolation)
    out = np.full((2, BLOCK), -7.0, np.float32)
    bypass.process(np.zeros((0, BLOCK), np.float32), out, 0, ())  # no input to copy
    assert not out.any()


def test_the_refused_processor_keeps_params_as_state() -> None:
    proc = RefusedProcessor("n1", "plugin 'p.py': refused\nby the compiler", "bypass", {"g": 1.0})
    assert isinstance(proc, Processor) and proc.latency_samples == 0
    assert proc.failure_reason == "plugin 'p.py': refused; by the compiler"
    proc.prepare(RATE, BLOCK, 2)
    proc.set_state({"params": {"g": 0.25}})
    proc.reset()
    assert proc.get_state() == {"params": {"g": 0.25}}
    proc.close()
    proc.close()


def test_in_process_constructor_refusal_is_contained(sandbox_cwd: Path) -> None:
    from ._helpers import make

    proc = make("import numpy as np\nclass P:\n    def __init__(self):\n        x = 1 / 0\n",
                isolation="in-process")  # fmt: skip
    assert isinstance(proc, RefusedProcessor)
    assert proc.failed and "ZeroDivisionError" in proc.failure_reason
    assert_nothing_ran(sandbox_cwd)


def test_a_looping_prepare_in_a_shared_worker_fails_only_its_node(sandbox_cwd: Path) -> None:
    from aers_host._nodetype import CheckContext
    from aers_host.sandbox import load_python_plugin, shared_workers

    from ._helpers import PASS

    procs: list[Any] = []
    with shared_workers():
        for k, source in enumerate((PASS, LOOPING, PASS)):
            # A generous deadline: a loaded machine's late block is not what this is about.
            options = {"isolation": "shared", "start_timeout_s": 1.5, "deadline_ms": 2000.0}
            ctx = CheckContext(RATE, BLOCK, Path("."), node_id=f"n{k}", node_options=options)
            procs.append(load_python_plugin(plugin(source), {}, ctx))
            procs[-1].prepare(RATE, BLOCK, 2)
    try:
        assert [p.failed for p in procs] == [False, True, False]
        assert "did not start" in procs[1].failure_reason
        assert procs[0]._worker is procs[2]._worker is not None
        assert (procs[0].instance, procs[2].instance) == (0, 1)
        inp = signal_block(0)
        for proc in procs:
            out = np.full_like(inp, -7.0)
            proc.process(inp, out, 0, ())
            np.testing.assert_array_equal(out, inp)
        assert procs[1].fallback_blocks == 1 and procs[0].fallback_blocks == 0
    finally:
        for proc in procs:
            proc.close()
    assert_nothing_ran(sandbox_cwd)


@pytest.mark.parametrize("isolation", ["in-process", "sandbox", "per-plugin", "shared"])
def test_a_graph_with_a_refused_node_builds_and_runs(isolation: str, sandbox_cwd: Path) -> None:
    good = step_plugin("fx-good")
    bad = plugin("import os\nos.system('touch aers-evil')\nclass P:\n    pass\n", name="fx-bad")
    bad_eval = plugin(process_body("eval('1')"), name="fx-eval")
    reg = with_plugins(good, bad, bad_eval)
    config = chain_config(["fx-good", "fx-bad", "fx-eval", "fx-good"], reg, isolation=isolation)
    with planned(config, reg) as (plan, engine):
        for _ in range(3):
            step(plan, engine)
        procs = [plan.node(f"p{k}").proc for k in range(1, 5)]
        assert [bool(p.failed) for p in procs] == [False, True, True, False]  # type: ignore[attr-defined]
        assert "only math and numpy" in procs[1].failure_reason  # type: ignore[attr-defined]
        assert "refused by the sandbox compiler" in procs[2].failure_reason  # type: ignore[attr-defined]
        assert procs[1].fallback_blocks == procs[2].fallback_blocks == 3  # type: ignore[attr-defined]
        # the refused nodes pass p1's output through untouched; p4 runs on it
        np.testing.assert_array_equal(plan.node("p3").out_buf, plan.node("p1").out_buf)
        if isolation != "in-process":
            assert isinstance(procs[0], SandboxedProcessor) and procs[0]._worker is not None
    assert_nothing_ran(sandbox_cwd)
