"""Tremolo for AERS: amplitude modulation by a raised-cosine LFO.

gain(n) = 1 - depth * (1 - cos(2 * pi * rate_hz * n / sample_rate)) / 2

``n`` is the absolute sample index (the block's ``start`` plus the offset in the block), so
the output does not depend on the block size, and a render resumed at sample N continues
the same waveform. At depth 0 the signal passes unchanged; at depth 1 it dips to silence
once per LFO cycle, starting at full level on sample 0.

Plugin contract (aers_host.plugin_api, docs/plugin-api.md): the class is built with no
arguments; the host sets ``self.params`` (current ``rate_hz`` and ``depth``, clamped to the
manifest's ranges) before ``prepare`` and splits each block at parameter changes, so
``events`` is always empty. Only ``math`` and ``numpy`` may be imported, and no name may
start with "_".
"""

import math

import numpy as np


class Tremolo:
    """Amplitude modulation with params ``rate_hz`` (0.1-20 Hz) and ``depth`` (0-1)."""

    def prepare(self, sample_rate, max_block, channels):
        self.sample_rate = float(sample_rate)

    def reset(self):
        pass

    def process(self, inp, out, start, events):
        depth = self.params["depth"]
        step = 2.0 * math.pi * self.params["rate_hz"] / self.sample_rate
        n = np.arange(out.shape[1], dtype=np.float64) + float(start)
        gain = 1.0 - depth * 0.5 * (1.0 - np.cos(n * step))
        np.multiply(inp, gain, out=out)
