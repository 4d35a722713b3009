"""The one place that turns user options into cost models: per-query time and classical cost.

`query_time_model(gate_time, calibration)`: seconds per block-encoding query. Nothing given
means `qnewton.costs.query_time.DEFAULT_GATE_TIME` (1e-9 s, a hypothetical 1 GHz query rate);
`gate_time` is the paper's model with that t_g (the paper's own is 1e-18 s, asked for
explicitly); `calibration` names a profile (`qnewton.calibrate.profile_files`): a hypothetical one
gives its gate time, a device one the transpiled query circuit's duration, a fault-tolerant one
the resource estimator's runtime of the logical circuit (`qnewton.calibrate.ft_query_time`).

`classical_cost_model(kind, constant, cg_rate)`: the LU / CG / best model and a line saying
where its numbers came from. Each number is, in this order: the value given; else the saved
`qnewton calibrate classical` profile if there is one; else the pinned constants of
`qnewton.costs.classical` (PINNED_LU_CONSTANT, PINNED_CG_RATE). A fresh wall-clock fit is made
only when asked for (`"fit"`), because two fits differ and can flip a decision.

`qnewton cost`, `qnewton calibration show`, the experiments and the trainer all come here, so
they share one default each.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from qnewton.costs.classical import (
    PINNED_CG_RATE,
    PINNED_LU_CONSTANT,
    PINNED_SOURCE,
    BestClassicalCostModel,
    CGCostModel,
    ClassicalCostModel,
    LUCostModel,
    check_kind,
    positive,
)
from qnewton.costs.query_time import DEFAULT_GATE_TIME, GateTimeModel, QueryTimeModel
from qnewton.enums import ClassicalModel
from qnewton.errors import UsageError

#: Words a classical number may be given as, besides a positive number.
COST_SPECS = ("auto", "pinned", "profile", "fit")
#: The two numbers a classical model needs, with the profile field holding each.
_FIELDS = {"classical_constant": ("lu", "constant"), "cg_rate": ("cg", "multiply_adds_per_second")}


def query_time_model(gate_time: float | None = None, calibration: Any = None, **device_options: Any) -> QueryTimeModel:
    """The per-query time model of these options (see the module docstring).

    gate_time: seconds per query (one gate time per query, the paper's model).
    calibration: a profile name, a path to a profile's .json file, or a loaded
        `CalibrationProfile`. Give at most one of the two; neither means DEFAULT_GATE_TIME.
    device_options: passed to `CalibratedQueryTimeModel` (fit_sizes, growth, ...) for a device
        profile; refused otherwise.
    """
    if gate_time is not None and calibration is not None:
        raise UsageError("gate time and calibration: give one of them, not both")
    if calibration is None:
        if device_options:
            raise UsageError(f"calibration: options {sorted(device_options)} apply only to device profiles")
        return GateTimeModel(DEFAULT_GATE_TIME if gate_time is None else gate_time)
    from qnewton.calibrate.profiles import CalibrationProfile

    if isinstance(calibration, CalibrationProfile):
        profile = calibration
    else:
        from qnewton.calibrate.profile_files import load_profile

        profile = load_profile(calibration)
    if profile.kind == "hypothetical":
        if device_options:
            raise UsageError(f"calibration: options {sorted(device_options)} apply only to device profiles, not {profile.name!r}")
        return GateTimeModel(gate_time_seconds=float(profile.gate_time), label=profile.name)  # type: ignore[arg-type]
    if profile.kind == "fault-tolerant":
        if device_options:
            raise UsageError(f"calibration: options {sorted(device_options)} apply only to device profiles, not {profile.name!r}")
        from qnewton.calibrate.ft_query_time import FaultTolerantQueryTimeModel

        return FaultTolerantQueryTimeModel(profile)
    from qnewton.calibrate.device_query_time import CalibratedQueryTimeModel

    return CalibratedQueryTimeModel(profile, **device_options)


def _saved_profile(profile: str | os.PathLike[str] | None, required: bool, which: str) -> tuple[Path, dict[str, Any]] | None:
    """(path, data) of the classical profile to read: `profile` if given, else the default file if
    it exists; None when there is none and it is not `required`."""
    from qnewton.calibrate.classical_profile import default_profile_path, load_profile

    path = Path(profile).expanduser() if profile is not None else default_profile_path()
    if profile is None and not path.is_file():
        if required:
            raise UsageError(f"{which}: no saved profile at {path}; run `qnewton calibrate classical` first, or give a "
                             "number or 'pinned'")
        return None
    return path, load_profile(path)


def resolve_cost_value(spec: float | str | None, which: str, *, profile: str | os.PathLike[str] | None = None,
                       given_source: str = "given") -> tuple[float, str]:
    """(value, where it came from) of one classical number.

    which: "classical_constant" (C of R_c = C N^3, seconds) or "cg_rate" (multiply-adds per
    second), also the name used in messages.
    spec: a positive number; None or "auto" (the profile if there is one, else pinned);
    "pinned"; "profile" (the profile, required); "fit" (a quick wall-clock fit on this machine).
    profile: the profile file to read instead of the default one.
    """
    if which not in _FIELDS:
        raise ValueError(f"which: classical_constant or cg_rate, got {which!r}")  # programming error
    section, key = _FIELDS[which]
    if spec is None:
        spec = "auto"
    if not isinstance(spec, str):
        return positive(which, spec), given_source
    if spec not in COST_SPECS:
        raise UsageError(f"{which}: must be a positive number or one of {', '.join(COST_SPECS)}, got {spec!r}")
    if spec in ("auto", "profile"):
        found = _saved_profile(profile, spec == "profile", which)
        if found is not None:
            from qnewton.calibrate.classical_profile import profile_source

            path, data = found
            return float(data[section][key]), profile_source(path, data)
        spec = "pinned"
    if spec == "pinned":
        return (PINNED_LU_CONSTANT if which == "classical_constant" else PINNED_CG_RATE), f"pinned default: {PINNED_SOURCE}"
    from qnewton.calibrate.classical_timing import quick_profile

    data = quick_profile()
    return float(data[section][key]), (f"quick fit on this machine at {data['blas_threads']} BLAS thread(s); it "
                                       "differs from run to run")


def classical_cost_model(
    kind: ClassicalModel | str = ClassicalModel.LU,
    constant: float | str | None = None,
    cg_rate: float | str | None = None,
    *,
    profile: str | os.PathLike[str] | None = None,
    epsilon: float = 0.01,
    given_source: str | Mapping[str, str] = "given",
) -> tuple[ClassicalCostModel, str]:
    """(model, where its numbers came from) for kind "lu", "cg" or "best".

    constant, cg_rate: C and the CG rate, each a number or a word of `resolve_cost_value`
    (None = the saved profile if there is one, else the pinned default). Only the numbers the
    kind needs are resolved. profile: a classical profile file instead of the default one.
    epsilon: the CG tolerance (pass the quantum solver's for a like-for-like comparison).
    given_source: how a number given directly is described (e.g. the option that gave it), one
    text for both or {"classical_constant": ..., "cg_rate": ...}.
    """
    kind = check_kind(kind)
    given = {w: given_source if isinstance(given_source, str) else given_source.get(w, "given") for w in _FIELDS}
    lu = cg = None
    if kind in (ClassicalModel.LU, ClassicalModel.BEST):
        value, source = resolve_cost_value(constant, "classical_constant", profile=profile,
                                           given_source=given["classical_constant"])
        lu = LUCostModel(value, source=source)
    if kind in (ClassicalModel.CG, ClassicalModel.BEST):
        value, source = resolve_cost_value(cg_rate, "cg_rate", profile=profile, given_source=given["cg_rate"])
        cg = CGCostModel(value, epsilon=epsilon, source=source)
    if kind == ClassicalModel.BEST:
        assert lu is not None and cg is not None
        best = BestClassicalCostModel(lu, cg)
        return best, (lu.source if lu.source == cg.source else best.source)
    model: ClassicalCostModel = lu if kind == ClassicalModel.LU else cg  # type: ignore[assignment]
    return model, model.source


def model_only(kind: ClassicalModel | str = ClassicalModel.LU, profile: str | os.PathLike[str] | None = None, *, epsilon: float = 0.01) -> ClassicalCostModel:
    """`classical_cost_model(kind, profile=profile, epsilon=epsilon)` without the source line: the
    call of the scheduler, which reads the source from the model itself."""
    return classical_cost_model(kind, profile=profile, epsilon=epsilon)[0]
