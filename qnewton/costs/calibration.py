"""Old import path of the calibration profiles, kept only for the training code's query-time
lookup until it imports `qnewton.calibrate.query_time_model` (profiles, device query times and
their export now live in `qnewton.calibrate`)."""

from __future__ import annotations

import os
from typing import Any


def query_time_model(name_or_path: str | os.PathLike[str], **options: Any) -> Any:
    """The QueryTimeModel of the calibration profile `name_or_path`."""
    # compatibility: moved to qnewton.calibrate.resolve.query_time_model(calibration=...)
    from qnewton.calibrate.resolve import query_time_model as resolved

    return resolved(calibration=name_or_path, **options)
