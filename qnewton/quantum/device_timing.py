"""Timing numbers a Qiskit backend reports about itself, outside its gates.

`backend_rep_delay_seconds(backend)`: the repetition delay between shots, read from the
backend's configuration (IBM's default of 250 us when it reports none). Used to model job time
(`qnewton.quantum.resources.device_seconds`) and written into exported calibration profiles.
"""

from __future__ import annotations

from typing import Any

#: Used when a backend does not report its repetition delay (IBM's default, 250 us).
DEFAULT_REP_DELAY_SECONDS = 250e-6


def backend_rep_delay_seconds(backend: Any) -> float:
    """The backend's default repetition delay in seconds (250 us when it reports none).

    IBM configurations give `default_rep_delay` in seconds for fake and live backends alike
    (qiskit-ibm-runtime converts the API's microseconds); a value > 1 can only be microseconds.
    """
    try:
        value = getattr(backend.configuration(), "default_rep_delay", None)
    except Exception:  # noqa: BLE001 - configuration shapes differ across backends and versions
        value = None
    if value is None:
        return DEFAULT_REP_DELAY_SECONDS
    value = float(value)
    return value * 1e-6 if value > 1 else value
