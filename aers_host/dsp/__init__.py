"""Built-in node types, registered through the same pluggy hook as plugins.

Processors: gain, eq, delay, pan, mix, compressor, limiter, reverb, meter; sources: sine,
noise, impulse, file. Every inner loop is a numba kernel
(``@njit(cache=True, fastmath=False)``); :func:`warm_kernels` compiles them ahead of time.
"""

from ._basic import Gain, Meter, Mix, Pan, balance_gains, pan_gains
from ._delay import MAX_DELAY_SAMPLES, Delay, delay_samples
from ._dynamics import Compressor, Limiter, limiter_latency_samples
from ._eq import BAND_TYPES, Eq, rbj_sos
from ._file import FileSource
from ._register import BUILTIN_NODE_TYPES, aers_register_processors
from ._reverb import Reverb
from ._sources import Impulse, Noise, Sine
from ._warm import warm_kernels

__all__ = [
    "BAND_TYPES",
    "BUILTIN_NODE_TYPES",
    "MAX_DELAY_SAMPLES",
    "Compressor",
    "Delay",
    "Eq",
    "FileSource",
    "Gain",
    "Impulse",
    "Limiter",
    "Meter",
    "Mix",
    "Noise",
    "Pan",
    "Reverb",
    "Sine",
    "aers_register_processors",
    "balance_gains",
    "delay_samples",
    "limiter_latency_samples",
    "pan_gains",
    "rbj_sos",
    "warm_kernels",
]
