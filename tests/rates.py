"""The sample rates every built-in is verified at (docs/config.md, "Sample rates").

Tests parametrize over :data:`RATES` wherever a result depends on the rate (filter
designs, time constants, Nyquist checks), comparing against scipy or analytic references
computed at that rate. :data:`EDGE_RATES` are the ends of the accepted range.
"""

from __future__ import annotations

from typing import Final

#: 44.1, 48, 88.2, 96 and 192 kHz.
RATES: Final = (44100, 48000, 88200, 96000, 192000)
#: The lowest and highest rate a config may ask for.
EDGE_RATES: Final = (8000, 192000)
