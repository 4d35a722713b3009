"""Checks of the run options every executor takes: shots per circuit and the seed.

Aer answers out-of-range values with a C++ exception or a TypeError, so they are checked here
first, with a one-line UsageError naming the option: `shots` must be an integer in
[1, MAX_SHOTS] (10^8 shots of a small circuit take about 100 s and a few GB here; far more makes
Aer fail to allocate), `seed` an integer in [0, 2^63 - 1] (Aer's seed is a signed 64-bit
integer; the transpiler rejects negative seeds).
"""

from __future__ import annotations

import numpy as np

from qnewton.errors import UsageError

#: Most shots one circuit may ask for (see the module docstring).
MAX_SHOTS = 100_000_000
#: Largest simulator / transpiler seed (Aer stores it as a signed 64-bit integer).
MAX_SEED = 2**63 - 1


def check_shots(shots: object, name: str = "shots") -> int:
    """`shots` as an int in [1, MAX_SHOTS], or a one-line UsageError naming `name`."""
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)):
        raise UsageError(f"{name}: must be an integer in [1, {MAX_SHOTS:.0e}], got {shots!r}")
    if not 1 <= int(shots) <= MAX_SHOTS:
        raise UsageError(f"{name}: must be an integer in [1, {MAX_SHOTS:.0e}] shots per circuit, got {int(shots)}")
    return int(shots)


def check_seed(seed: object, name: str = "seed") -> int | None:
    """`seed` as an int in [0, 2^63 - 1] (None stays None), or a one-line UsageError naming `name`."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise UsageError(f"{name}: must be an integer in [0, 2^63 - 1], got {seed!r}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise UsageError(f"{name}: must be an integer in [0, 2^63 - 1], got {int(seed)}")
    return int(seed)
