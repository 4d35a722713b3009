"""Typed experiment parameters read from TOML, checked field by field.

Every experiment declares its parameters as a frozen dataclass whose fields carry defaults (the
paper's full settings) and type hints. `build_params` turns a TOML table into that dataclass:
unknown keys, wrong types and (through the dataclass's own ``__post_init__``) out-of-range
values raise `UsageError` with one line naming the field and the reason.

Supported hints: int, float, str, bool, Literal[...], the string enums of `qnewton.enums`
(``KappaMethod``, ``Readout``, ...), tuples of those (``tuple[int, ...]``), ``X | None``, and
tables with string keys (``dict[str, X]``, a TOML table such as ``[params.grids]``). TOML
arrays become tuples; an int is accepted where a float is expected; a string naming an enum
member becomes that member.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from typing import Any, Mapping

from qnewton.errors import UsageError


def _is_enum(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, enum.Enum)


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if _is_enum(hint):
        return "one of " + ", ".join(repr(m.value) for m in hint)
    if origin is dict:
        return f"a table of {_type_name(typing.get_args(hint)[1])}"
    if origin is tuple:
        return f"a list of {_type_name(typing.get_args(hint)[0])}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "nothing"
    return getattr(hint, "__name__", str(hint))


def coerce(value: Any, hint: Any, where: str) -> Any:
    """Check `value` against the type hint `hint`; return it in the dataclass's type."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise UsageError(f"{where}: must be {_type_name(hint)}, got {value!r}")
        return value
    if _is_enum(hint):
        if not isinstance(value, str) or value not in {m.value for m in hint}:
            raise UsageError(f"{where}: must be {_type_name(hint)}, got {value!r}")
        return hint(value)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            try:
                return coerce(value, arg, where)
            except UsageError:
                continue
        raise UsageError(f"{where}: must be {_type_name(hint)}, got {value!r}")
    if origin is dict:
        if not isinstance(value, dict):
            raise UsageError(f"{where}: must be a table, got {value!r}")
        key_hint, value_hint = typing.get_args(hint)
        return {coerce(k, key_hint, where): coerce(v, value_hint, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise UsageError(f"{where}: must be {_type_name(hint)}, got {value!r}")
        (item,) = typing.get_args(hint)[:1]
        return tuple(coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise UsageError(f"{where}: must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{where}: must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"{where}: must be a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise UsageError(f"{where}: must be finite, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise UsageError(f"{where}: must be a string, got {value!r}")
        return value
    if hint is type(None):
        if value is not None:
            raise UsageError(f"{where}: must be empty, got {value!r}")
        return None
    raise TypeError(f"unsupported parameter type {hint!r} for {where}")  # programming error


def build_params(cls: type, values: Mapping[str, Any], where: str = "params") -> Any:
    """Instantiate the parameter dataclass `cls` from `values`, validating every key."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - names)
    if unknown:
        raise UsageError(f"{where}.{unknown[0]}: unknown parameter (known: {', '.join(sorted(names))})")
    kwargs = {key: coerce(val, hints[key], f"{where}.{key}") for key, val in values.items()}
    try:
        return cls(**kwargs)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None


def params_to_dict(params: Any) -> dict[str, Any]:
    """JSON-ready dict of a parameter dataclass (tuples become lists, enum members their strings)."""
    def plain(v: Any) -> Any:
        return v.value if isinstance(v, enum.Enum) else v

    out = {}
    for f in dataclasses.fields(params):
        v = getattr(params, f.name)
        out[f.name] = [plain(x) for x in v] if isinstance(v, tuple) else plain(v)
    return out


# Small validators used by the experiments' __post_init__ methods -----------------------------


def require(cond: bool, field: str, reason: str) -> None:
    """Raise UsageError("<field>: <reason>") unless `cond`."""
    if not cond:
        raise UsageError(f"{field}: {reason}")


def require_nonempty_sorted_positive(values: tuple, field: str) -> None:
    require(len(values) > 0, field, "must list at least one value")
    require(all(v > 0 for v in values), field, f"every value must be > 0, got {list(values)}")
    require(list(values) == sorted(set(values)), field, f"values must be strictly increasing, got {list(values)}")
