"""Fixtures: example and probe plugins built once per session into a temp dir.

Probe plugins are generated from one C++ template (a gain + fixed delay effect) with the
knobs the refusal tests need: ABI major version, exported symbol name, descriptor params,
latency. Everything is built with the public ``build_plugin`` — the same path as
``aers plugin build``.
"""

from __future__ import annotations

import hashlib
import shutil
import string
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aers_host import ParamEvent
from aers_host._nodetype import CheckContext
from aers_host.native import build_plugin
from aers_host.plugins import VerifiedPlugin
from aers_host.plugins._model import FileRecord, ManifestParam, SignedPart

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ("native_reverb", "native_eq")

PROBE_TEMPLATE = string.Template(r"""
#include <cstring>
#include <vector>
#include "aers_plugin.h"
#include "aers_plugin_util.hpp"
namespace {
const aers_param_info_t kParams[] = {
  {0, AERS_PARAM_IS_AUTOMATABLE, "gain", "", 0.0, 2.0, 1.0},
  $extra_params
};
const aers_descriptor_t kDescriptor = {{$major, 0, 0}, "org.aers.test.probe", "Probe", "tests",
  "0.1.0", "gain and a fixed delay", $param_count, 0, kParams};
constexpr uint32_t kLatency = $latency;
struct Probe {
  uint32_t channels;
  double gain = 1.0;
  std::vector<float> line;  // [channels][kLatency + 1] ring
  uint32_t pos = 0;
};
const aers_descriptor_t *AERS_ABI get_descriptor() { return &kDescriptor; }
void *AERS_ABI create(double, uint32_t, uint32_t channels) {
  auto *p = new Probe();
  p->channels = channels;
  p->line.assign(channels * (kLatency + 1), 0.0f);
  return p;
}
void AERS_ABI destroy(void *s) { delete static_cast<Probe *>(s); }
uint32_t AERS_ABI latency(const void *) { return kLatency; }
void AERS_ABI reset(void *s) {
  auto *p = static_cast<Probe *>(s);
  std::fill(p->line.begin(), p->line.end(), 0.0f);
}
bool AERS_ABI process(void *s, const aers_process_t *pr) {
  auto *p = static_cast<Probe *>(s);
  const uint32_t n = kLatency + 1;
  aers::for_each_span(pr, [&](uint32_t from, uint32_t to) {
    for (uint32_t i = from; i < to; ++i) {
      for (uint32_t c = 0; c < p->channels; ++c) {
        float *ring = &p->line[c * n];
        ring[p->pos] = pr->in[c][i];
        pr->out[c][i] = static_cast<float>(p->gain * ring[(p->pos + 1) % n]);
      }
      p->pos = (p->pos + 1) % n;
    }
  }, [&](uint32_t id, double v) { if (id == 0) p->gain = v; });
  return true;
}
int64_t AERS_ABI get_state(const void *, uint8_t *, uint64_t) { return 0; }
bool AERS_ABI set_state(void *, const uint8_t *, uint64_t) { return true; }
const void *AERS_ABI get_extension(const char *) { return nullptr; }
const aers_plugin_entry_t kEntry = {{$major, 0, 0}, get_descriptor, create, destroy, latency,
  reset, process, get_state, set_state, get_extension};
}  // namespace
extern "C" AERS_EXPORT const aers_plugin_entry_t *AERS_ABI $symbol(void) { return &kEntry; }
""")

PROBES: dict[str, dict[str, Any]] = {
    "probe_ok": {},
    "probe_abi2": {"major": 2},
    "probe_nosym": {"symbol": "some_other_entry"},
    "probe_badparams": {
        "extra_params": """
  {1, 0, "gain", "", 0.0, 1.0, 0.5},
  {2, 0, "", "", 0.0, 1.0, 0.5},
  {3, 0, "upside_down", "", 1.0, 0.0, 0.5},
  {4, 0, "not_a_number", "", 0.0, 1.0, __builtin_nan("")},
  {5, 0, "Bad-Name", "", 0.0, 1.0, 0.5},
  {0, 0, "dup_id", "", 0.0, 1.0, 0.5},""",
        "param_count": 7,
    },
    "probe_toomany": {"param_count": 100000},
}


def probe_source(**knobs: Any) -> str:
    values = {
        "major": 1,
        "symbol": "aers_plugin_entry",
        "extra_params": "",
        "latency": 64,
        "param_count": 1,
    } | knobs
    return PROBE_TEMPLATE.substitute(values)


def _build_one(root: Path, name: str, source: str | None) -> Path:
    folder = root / name
    if source is None:
        shutil.copytree(REPO / "plugins" / name, folder)
    else:
        folder.mkdir()
        (folder / f"{name}.cpp").write_text(source)
    (lib,) = build_plugin(folder)
    return lib


@pytest.fixture(scope="session")
def libs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Name → built library path, for the examples and every probe (built in parallel)."""
    root = tmp_path_factory.mktemp("native-build")
    jobs: dict[str, str | None] = {name: None for name in EXAMPLES}
    jobs |= {name: probe_source(**knobs) for name, knobs in PROBES.items()}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(_build_one, root, name, src) for name, src in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def verified(
    lib: Path,
    *,
    name: str | None = None,
    symbol: str = "aers_plugin_entry",
    params: tuple[Mapping[str, Any], ...] = (),
    isolation: str = "in-process",
    data: bytes | None = None,
) -> VerifiedPlugin:
    """A VerifiedPlugin as the trust layer would hand it over (manifest hash of the real file)."""
    real = lib.read_bytes()
    record = FileRecord(hashlib.sha256(real).hexdigest(), len(real))
    entry = f"{lib.name}:{symbol}"
    return VerifiedPlugin(
        name=name or lib.parent.name,
        version="1.0.0",
        kind="native",
        entry=entry,
        isolation=isolation,  # type: ignore[arg-type]
        files={lib.name: real if data is None else data},
        params=tuple(ManifestParam.from_dict(p, f"params.{i}") for i, p in enumerate(params)),
        manifest=SignedPart(
            spec_version="1.0",
            name=name or lib.parent.name,
            version="1.0.0",
            kind="native",
            entry=entry,
            isolation="in-process",
            files={lib.name: record},
            params=(),
            permissions=(),
            expires="2099-01-01T00:00:00Z",
        ),
    )


CTX = CheckContext(sample_rate=48000, block_size=512, base_dir=Path("."), node_id="n1")


def run_blocks(
    proc: Any, x: np.ndarray, block: int, events: list[tuple[int, str, float]], start: int = 0
) -> np.ndarray:
    """Process ``x`` block by block, turning absolute-time events into block offsets."""
    y = np.zeros_like(x)
    inbuf = np.zeros((x.shape[0], block), np.float32)
    outbuf = np.zeros((x.shape[0], block), np.float32)
    for pos in range(0, x.shape[1], block):
        n = min(block, x.shape[1] - pos)
        inp, out = inbuf[:, :n], outbuf[:, :n]
        inp[...] = x[:, pos : pos + n]
        block_events = [
            ParamEvent(at - pos, name, value) for at, name, value in events if pos <= at < pos + n
        ]
        proc.process(inp, out, start + pos, block_events)
        y[:, pos : pos + n] = out
    return y
