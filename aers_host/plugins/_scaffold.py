"""Templates for ``aers plugin new``: a small working plugin of each kind (pure).

The Python template is the plugin class shape the sandbox loader expects (see
``aers_host/sandbox/_loader.py``): a class built with no arguments whose ``self.params`` the
host sets, with ``prepare``, ``process`` and ``reset``; it uses only ``math`` and ``numpy``
and no name that starts with ``_`` (RestrictedPython refuses those). The native template
implements the C ABI of ``aers_plugin.h`` and is built by ``aers plugin build``.

Example:
    >>> sorted(scaffold_files("fuzz-box", "python"))
    ['fuzz_box.py', 'manifest.in.json', 'test_fuzz_box.py']
    >>> sorted(scaffold_files("fuzz-box", "native"))
    ['fuzz_box.cpp', 'manifest.in.json', 'test_fuzz_box.py']
"""

from __future__ import annotations

import json
import re
from typing import Final

from ._manifest import DEFAULT_ISOLATION

_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")

_PYTHON_SOURCE: Final = '''\
"""{name}: a gain plugin for AERS; replace the body of ``process`` with your effect.

Contract (aers_host.plugin_api, "sandboxed Python plugins"): the class is built with no
arguments; the host sets ``self.params`` (name -> float, clamped to the ranges in
manifest.in.json) before ``prepare`` and splits each block at parameter changes, so
``events`` is always empty. Only ``math`` and ``numpy`` may be imported, and no name may
start with an underscore.
"""

import math

import numpy as np


class {cls}:
    """Scales the signal by ``gain_db``."""

    def prepare(self, sample_rate, max_block, channels):
        self.sample_rate = sample_rate

    def reset(self):
        pass

    def process(self, inp, out, start, events):
        gain = math.pow(10.0, self.params["gain_db"] / 20.0)
        np.multiply(inp, gain, out=out)
'''

_PYTHON_TEST: Final = '''\
"""Tests for {name}: run them with `aers plugin test .` (pytest, without writing bytecode).

The plugin is loaded by aers_host.plugin_api.load_plugin_dir: manifest.in.json checked as
`aers plugin sign` checks it, every file checked and compiled with the sandbox's
RestrictedPython policy, and the class run by the sandbox's own runner (in this process).
"""

import pathlib

import numpy as np

from aers_host.plugin_api import load_plugin_dir

HERE = pathlib.Path(__file__).parent


def make(**params):
    plugin = load_plugin_dir(HERE, params)  # defaults from manifest.in.json fill the rest
    plugin.prepare(48000, 64, 1)
    return plugin


def test_minus_six_db_halves_the_level():
    plugin = make(gain_db=-6.0206)
    inp = np.ones((1, 64), np.float32)
    out = np.zeros_like(inp)
    plugin.process_block(inp, out, 0, ())
    assert np.allclose(out, 0.5, atol=1e-4)
'''

_NATIVE_TEST: Final = '''\
"""Tests for {name}: build, sign with a throwaway key, install and render, all in a temporary
AERS home. Run them with `aers plugin test .` (needs g++)."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import soundfile as sf

HERE = pathlib.Path(__file__).parent
AERS = shutil.which("aers", path=str(pathlib.Path(sys.executable).parent)) or "aers"


def aers(home, *args):
    env = {{**os.environ, "AERS_HOME": str(home)}}
    done = subprocess.run([AERS, *map(str, args)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


def test_minus_six_db_halves_the_level(tmp_path):
    home, plugin, keys = tmp_path / "home", tmp_path / "{name}", tmp_path / "keys"
    skip = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.so", "manifest.json")
    shutil.copytree(HERE, plugin, ignore=skip)
    aers(home, "plugin", "build", plugin)
    aers(home, "keys", "generate", "throwaway", "--out", keys)
    aers(home, "keys", "trust", keys / "throwaway.pub.pem", "--scope", "native")
    aers(home, "plugin", "sign", plugin, "--key", keys / "throwaway.key.pem")
    aers(home, "plugin", "install", plugin)
    config = tmp_path / "graph.json"
    config.write_text(json.dumps({{
        "duration": 0.01,
        "nodes": {{
            "dc": {{"type": "impulse", "params": {{"every": 1, "channels": 1}}}},
            "fx": {{"type": "{name}", "params": {{"gain_db": -6.0206}}}},
            "out": {{"type": "output"}},
        }},
        "connections": [{{"from": "dc", "to": "fx"}}, {{"from": "fx", "to": "out"}}],
    }}))
    aers(home, "render", config, "--out-dir", tmp_path / "out")
    audio, _ = sf.read(tmp_path / "out" / "out.wav")
    assert np.allclose(audio, 0.5, atol=1e-4)
'''

_NATIVE_SOURCE: Final = """\
// {name}: a gain effect for AERS (C ABI 1, aers_plugin.h); replace render() with your DSP.
// Build it into this folder with: aers plugin build .
#include <cmath>
#include <cstdint>

#include "aers_plugin.h"
#include "aers_plugin_util.hpp"

namespace {{

enum ParamId : uint32_t {{ kGain, kParamCount }};
const aers_param_info_t kParams[kParamCount] = {{
    {{kGain, AERS_PARAM_IS_AUTOMATABLE, "gain_db", "dB", -60.0, 12.0, 0.0}},
}};
const aers_descriptor_t kDescriptor = {{
    AERS_VERSION_INIT, "local.{module}", "{name}", "me", "0.1.0", "gain", kParamCount, 0, kParams,
}};

struct Fx {{
   uint32_t channels;
   double gain_db = 0.0;
   void render(const aers_process_t *p, uint32_t from, uint32_t to) const {{
      const float g = static_cast<float>(std::pow(10.0, gain_db / 20.0));
      for (uint32_t c = 0; c < channels; ++c)
         for (uint32_t i = from; i < to; ++i) p->out[c][i] = p->in[c][i] * g;
   }}
}};

const aers_descriptor_t *AERS_ABI get_descriptor() {{ return &kDescriptor; }}
void *AERS_ABI create(double, uint32_t max_frames, uint32_t channels) {{
   if (max_frames == 0 || channels == 0 || channels > 64) return nullptr;
   try {{ return new Fx{{channels}}; }} catch (...) {{ return nullptr; }}
}}
void AERS_ABI destroy(void *self) {{ delete static_cast<Fx *>(self); }}
uint32_t AERS_ABI latency(const void *) {{ return 0; }}
void AERS_ABI reset(void *) {{}}
bool AERS_ABI process(void *self, const aers_process_t *p) {{
   Fx *fx = static_cast<Fx *>(self);
   if (p->in_channels != fx->channels || p->out_channels != fx->channels) return false;
   aers::for_each_span(
       p, [&](uint32_t from, uint32_t to) {{ fx->render(p, from, to); }},
       [&](uint32_t id, double v) {{
          if (id < kParamCount) fx->gain_db = aers::clamp_param(kParams[id], v);
       }});
   return true;
}}
int64_t AERS_ABI get_state(const void *self, uint8_t *buffer, uint64_t capacity) {{
   aers::StateWriter w(buffer, capacity);
   w.put_value(static_cast<const Fx *>(self)->gain_db);
   return w.result();
}}
bool AERS_ABI set_state(void *self, const uint8_t *data, uint64_t size) {{
   aers::StateReader r(data, size);
   double g = 0.0;
   if (!r.get_value(g) || !r.at_end()) return false;
   static_cast<Fx *>(self)->gain_db = aers::clamp_param(kParams[kGain], g);
   return true;
}}
const void *AERS_ABI get_extension(const char *) {{ return nullptr; }}

const aers_plugin_entry_t kEntry = {{
    AERS_VERSION_INIT, get_descriptor, create, destroy, latency, reset,
    process, get_state, set_state, get_extension,
}};

}}  // namespace

extern "C" AERS_EXPORT const aers_plugin_entry_t *AERS_ABI aers_plugin_entry(void) {{
   return &kEntry;
}}
"""


def module_name(name: str) -> str:
    """The Python module / file stem for a plugin name (``fuzz-box`` → ``fuzz_box``)."""
    return name.replace("-", "_")


def class_name(name: str) -> str:
    """The class name for a plugin name (``fuzz-box`` → ``FuzzBox``)."""
    return "".join(part.capitalize() for part in re.split(r"[-_]", name) if part)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a plugin name, or None (same rule as the manifest schema)."""
    if not _NAME_RE.match(name):
        return "must be lowercase letters, digits, '-' or '_', starting with a letter (max 63)"
    return None


def scaffold_files(name: str, kind: str) -> dict[str, str]:
    """Relative path → text of a new plugin folder of ``kind`` named ``name``.

    Raises:
        ValueError: ``kind`` is neither ``python`` nor ``native`` (the CLI restricts it).
    """
    module, cls = module_name(name), class_name(name)
    params = [{"name": "gain_db", "default": 0.0, "min": -60.0, "max": 12.0, "unit": "dB"}]
    if kind == "python":
        entry = f"{module}.py:{cls}"
        files = {
            f"{module}.py": _PYTHON_SOURCE.format(name=name, cls=cls),
            f"test_{module}.py": _PYTHON_TEST.format(name=name),
        }
    elif kind == "native":
        entry = f"lib{module}.so:aers_plugin_entry"
        files = {
            f"{module}.cpp": _NATIVE_SOURCE.format(name=name, module=module),
            f"test_{module}.py": _NATIVE_TEST.format(name=name),
        }
    else:
        raise ValueError(f"unknown plugin kind {kind!r}")
    source = {
        "name": name,
        "version": "0.1.0",
        "description": f"{name} (made with aers plugin new)",
        "kind": kind,
        "entry": entry,
        "isolation": DEFAULT_ISOLATION[kind],
        "params": params,
    }
    files["manifest.in.json"] = json.dumps(source, indent=2) + "\n"
    return files
