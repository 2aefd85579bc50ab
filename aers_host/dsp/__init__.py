"""Built-in DSP processors and the node types that create them.

Processors: gain, eq, delay, pan, mix, compressor, limiter, reverb, meter; sources: sine,
noise, impulse, file. Each node type is declared in its module and registered once in
``aers_host._builtins``. Every inner loop is a numba kernel (``@njit(cache=True, fastmath=False)``);
:func:`warm_kernels` runs the warm-up the given node types declare, ahead of time.
"""

from ._basic import Gain, Meter, Mix, Pan, balance_gains, pan_gains
from ._delay import MAX_DELAY_SAMPLES, Delay, delay_samples, onset_samples
from ._dynamics import Compressor, Limiter, limiter_latency_samples
from ._eq import BAND_TYPES, Eq, rbj_sos
from ._file import FileSource
from ._reverb import Reverb
from ._sources import Impulse, Noise, Sine
from ._warm import warm_kernels

__all__ = [
    "BAND_TYPES",
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
    "balance_gains",
    "delay_samples",
    "limiter_latency_samples",
    "onset_samples",
    "pan_gains",
    "rbj_sos",
    "warm_kernels",
]
