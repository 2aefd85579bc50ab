"""Cross-cutting checks over every built-in: API surface, registration, schemas, allocation."""

from __future__ import annotations

import inspect
import json
import tracemalloc
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import soundfile as sf

import aers_host.dsp as dsp
from aers_host import ParamEvent, Processor, ProcessorBase, default_registry
from aers_host._nodetype import CheckContext

NAMES = ["file", "sine", "noise", "impulse", "gain", "eq", "delay", "pan", "mix", "compressor",
         "limiter", "reverb", "meter"]
PARAMS: dict[str, dict[str, Any]] = {
    "eq": {"bands": [{"type": "peak", "freq": 1000, "gain_db": 3},
                     {"type": "highpass", "freq": 50}]},
    "delay": {"ms": 20, "feedback": 0.4, "mix": 0.5},
    "noise": {"color": "pink", "seed": 3},
    "impulse": {"at": 5, "every": 100},
}
REGISTRY = default_registry(entry_points=False, store=False)


def test_all_names_importable() -> None:
    for name in dsp.__all__:
        assert hasattr(dsp, name), name


def test_registered_through_pluggy() -> None:
    assert [name for name in REGISTRY if name in NAMES] == NAMES
    assert all(REGISTRY.source(name) == "builtin" for name in NAMES)
    assert REGISTRY["file"].role == "source"


@pytest.fixture
def media(tmp_path: Path) -> CheckContext:
    sf.write(tmp_path / "a.wav", np.zeros((100, 2), np.float32) + 0.1, 44100)
    return CheckContext(48000, 4096, tmp_path, "n")


@pytest.mark.parametrize("name", NAMES)
def test_schema_defaults_and_allocation_free_process(name: str, media: CheckContext) -> None:
    node = REGISTRY[name]
    params = PARAMS.get(name, {"path": "a.wav"} if name == "file" else {})
    schema = node.params_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(params, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"no_such_param": 1}, schema)
    assert node.check(params, media) == []
    n_in = 0 if node.role == "source" else 2
    n_out = node.output_channels(params, None if n_in == 0 else n_in, media)
    proc = node.create(params, media)
    assert isinstance(proc, Processor)
    proc.prepare(48000, 4096, n_in)
    inp = np.random.default_rng(0).standard_normal((n_in, 4096)).astype(np.float32)
    out = np.zeros((n_out, 4096), np.float32)
    spec = node.param_specs()[0].name if node.param_specs() else "x"
    events = [ParamEvent(1000, spec, node.param_specs()[0].default if node.param_specs() else 0)]
    proc.process(inp, out, 0, events)  # warm: compile / first-call caches
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for k in range(1, 20):
            proc.process(inp, out, 4096 * k, events)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a (2, 4096) float32 temporary would be 32 KiB; views and events cost a few hundred bytes
    assert peak - before < 8192, f"{name} allocated {peak - before} bytes in process()"
    assert np.all(np.isfinite(out))
    json.dumps(proc.get_state())  # JSON-serialisable
    proc.reset()


def test_public_methods_carry_thread_tags() -> None:
    for cls_name in dsp.__all__:
        cls = getattr(dsp, cls_name)
        if not (inspect.isclass(cls) and issubclass(cls, ProcessorBase)):
            continue
        for meth in ("process", "render", "reset", "get_state", "set_state"):
            if meth not in vars(cls):
                continue  # inherited from ProcessorBase
            doc = inspect.getdoc(vars(cls)[meth]) or ""
            assert doc.startswith("["), f"{cls_name}.{meth} lacks a thread tag"


def test_warm_kernels_runs_every_declared_warm_up() -> None:
    declared = [t for t in REGISTRY.values() if t.traits.warm is not None]
    assert {t.name for t in declared} >= set(NAMES) - {"file"}  # a file source compiles nothing
    assert dsp.warm_kernels(REGISTRY.values()) == len(declared)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "file"])
def test_state_resume_is_bit_exact_for_every_type(name: str, media: CheckContext) -> None:
    node = REGISTRY[name]
    params = PARAMS.get(name, {})
    n_in = 0 if node.role == "source" else 2
    n_out = node.output_channels(params, None if n_in == 0 else n_in, media)
    x = np.random.default_rng(1).standard_normal((n_in, 8 * 512)).astype(np.float32)

    def run(proc: Any, lo: int, hi: int) -> np.ndarray:
        out = np.zeros((n_out, (hi - lo) * 512), np.float32)
        for k in range(lo, hi):
            proc.process(x[:, k * 512 : (k + 1) * 512], out[:, (k - lo) * 512 : (k - lo + 1) * 512],
                         k * 512, ())
        return out

    whole = node.create(params, media)
    whole.prepare(48000, 512, n_in)
    ref = run(whole, 0, 8)
    first, second = node.create(params, media), node.create(params, media)
    first.prepare(48000, 512, n_in)
    run(first, 0, 3)
    second.prepare(48000, 512, n_in)
    second.set_state(json.loads(json.dumps(first.get_state())))
    assert np.array_equal(run(second, 3, 8), ref[:, 3 * 512 :])
