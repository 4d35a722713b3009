"""Checkpoints: everything a method needs to continue bit for bit, in a file that cannot run code.

A checkpoint (torch.save, `runs/<name>/<method>/checkpoint.pt`) holds the format tag, the index of
the next step, the model's state_dict, the method's optimizer state_dict (key "optimizer"), the method's running totals
and the RNG states (torch CPU generator, numpy's legacy global state, Python's `random`). The
trainer draws mini-batches and emulated-QLSA noise from generators seeded by (seed, step), so the
saved RNG states are a second line of defence, restored on resume all the same.

Every value is a tensor or plain data (dict, list, str, int, float, bool, None): numpy's state
(an ndarray inside a tuple) and Python's (nested tuples) are stored as dicts of ints and lists.
That is what lets `load_checkpoint` read with `torch.load(..., weights_only=True)`, whose
unpickler refuses any other object, so a crafted checkpoint.pt (a pickle whose `__reduce__`
calls os.system, say) is rejected instead of executed.

Writes are atomic (temporary file, then rename), so an interrupted save never leaves a torn file.
"""

from __future__ import annotations

import pickle
import random
import stat
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qnewton.errors import UsageError
from qnewton.files import write_atomic

#: The `format` entry of every checkpoint this version writes.
CHECKPOINT_FORMAT = "qnewton-checkpoint"
#: Version 2: RNG states as plain data (version 1 pickled numpy arrays and needed the full unpickler).
CHECKPOINT_VERSION = 2

_MT_KEY_LENGTH = 624
_PY_STATE_LENGTH = 625


def rng_states() -> dict[str, Any]:
    """The torch, numpy (legacy global) and Python RNG states, as tensors and plain data only."""
    kind, key, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": str(kind), "key": [int(k) for k in key], "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached)},
        "python": {"version": int(version), "state": [int(v) for v in internal],
                   "gauss_next": None if gauss_next is None else float(gauss_next)},
    }


def check_rng_states(states: Any) -> str | None:
    """None if `states` has the layout `rng_states` writes, else a short reason (for messages)."""
    if not isinstance(states, dict) or set(states) != {"torch", "numpy", "python"}:
        return "rng: expected the keys torch, numpy, python"
    t = states["torch"]
    if not isinstance(t, torch.Tensor) or t.dtype != torch.uint8 or t.shape != torch.get_rng_state().shape:
        return "rng.torch: not a torch generator state"
    n = states["numpy"]
    if (not isinstance(n, dict) or n.get("kind") != "MT19937" or not _ints(n.get("key"), _MT_KEY_LENGTH, 2**32)
            or not _int_in(n.get("pos"), 0, _MT_KEY_LENGTH) or not _int_in(n.get("has_gauss"), 0, 1)
            or not isinstance(n.get("cached_gaussian"), float)):
        return "rng.numpy: not a numpy MT19937 state"
    p = states["python"]
    if (not isinstance(p, dict) or not _int_in(p.get("version"), 3, 3)
            or not _ints(p.get("state"), _PY_STATE_LENGTH, 2**32)
            or not (p.get("gauss_next") is None or isinstance(p.get("gauss_next"), float))):
        return "rng.python: not a Python random state"
    return None


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _ints(values: Any, length: int, bound: int) -> bool:
    return (isinstance(values, list) and len(values) == length
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < bound for v in values))


def restore_rng_states(states: dict[str, Any]) -> None:
    """Restore the states saved by `rng_states` (a malformed one is a one-line UsageError)."""
    reason = check_rng_states(states)
    if reason is not None:
        raise UsageError(f"checkpoint: {reason}")
    torch.set_rng_state(states["torch"])
    n = states["numpy"]
    np.random.set_state((n["kind"], np.asarray(n["key"], dtype=np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = states["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """torch.save `payload` (with the format tag added) to a temporary file beside `path`, then
    rename it over `path` (atomic)."""
    tagged = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    write_atomic(path, lambda fh: torch.save(tagged, fh), field="checkpoint", make_parents=True)


def load_checkpoint(path: str | Path, *, field: str = "checkpoint") -> dict[str, Any]:
    """Read a checkpoint with the weights-only unpickler; returns the dict (key "model": the
    model's state_dict, see the module docstring).

    A missing, unreadable or damaged file, one that holds anything but tensors and plain data
    (refused unread: that is how a code-carrying pickle is stopped) or one without a state_dict
    under "model" is a one-line UsageError naming `field`."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise UsageError(f"{field}: no checkpoint at {p}") from None
    except OSError as exc:
        raise UsageError(f"{field}: cannot read checkpoint {p} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{field}: checkpoint {p} is not a regular file")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UsageError(f"{field}: checkpoint {p} holds objects other than tensors and plain data and was not "
                         "loaded (a damaged or crafted file, or one written before checkpoint version "
                         f"{CHECKPOINT_VERSION})") from None
    except PermissionError as exc:
        raise UsageError(f"{field}: cannot read checkpoint {p} ({exc.strerror or exc})") from None
    except Exception as exc:  # damaged zip, truncated file, foreign format: one line, never a traceback
        raise UsageError(f"{field}: checkpoint {p} is damaged or not a PyTorch checkpoint "
                         f"({type(exc).__name__})") from None
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in model.items()):
        raise UsageError(f"{field}: checkpoint {p} has no model state_dict under 'model'")
    return data
