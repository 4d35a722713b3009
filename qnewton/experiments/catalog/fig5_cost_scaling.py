"""fig5-cost-scaling: classical and quantum solver cost against kappa and against sparsity d.

Paper Fig. 5 (Sec. II-E, III-B): time cost of classical and quantum solvers against the
condition number at fixed sparsity d = 1000 (left) and against the oracle sparsity at fixed
kappa = 10^4 (right); the LU cost depends on N only, the quantum cost on kappa and d.

Everything here is a cost-model prediction (the formulas of `qnewton.costs`), no training:

* quantum: R_q = t_query * E[queries] (+ readout) with E[queries] = Q*(kappa, eps, alpha) /
  (0.39 - 0.201 eps) (Jennings et al. 2023, Theorem 1) and alpha from d (`alpha_from_sparsity`),
  for each per-query time profile (the paper's 1e-18 s "attosecond", faster-hardware scenarios,
  and the ibm_sherbrooke calibration);
* classical: LU, R_c = C N^3, and conjugate gradients, ~ N d sqrt(kappa) ln(2/eps) multiply-adds,
  with C and the CG rate given, else from this machine's saved `qnewton calibrate classical`
  profile, else the pinned defaults (`qnewton.calibrate.classical_cost_model`; the source of each
  is logged and kept in results.json).

The per-query time of every profile comes from `qnewton.calibrate.query_time_model`; the
shipped config names all of them explicitly (the paper's 1e-18 s is the "attosecond" profile).

Crossovers (where R_q = R_c) are located by log-linear interpolation between grid points; a
pair that never crosses in the range is reported with which side is cheaper throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qnewton.enums import ClassicalModel

from qnewton.experiments.aggregate import value
from qnewton.experiments.params import require
from qnewton.experiments.plotting import figure, save
from qnewton.experiments.spec import Experiment, RunContext, TableSpec, Tables
from qnewton.experiments.training import GIVEN_SOURCE, check_profiles, gate_seconds


@dataclass(frozen=True)
class Params:
    """n: matrix size N (12544 = the paper's MNIST Hessian, Fig. 6); fixed_sparsity and
    fixed_kappa: the fixed values of the two sweeps (paper: 1000 and 1e4); kappa_min/max,
    kappa_points: the kappa grid (log-spaced); sparsity_points: the d grid (log-spaced, 1..N);
    epsilon: QLSA error tolerance; max_entry, norm: entry bound and spectral norm that turn d
    into the block-encoding subnormalization alpha; profiles: per-query time models;
    classical: classical cost models; classical_constant: C of LU (0 = this machine's saved
    profile, else the pinned default)."""

    n: int = 12544
    fixed_sparsity: int = 1000
    fixed_kappa: float = 1e4
    kappa_min: float = 4.0
    kappa_max: float = 1e10
    kappa_points: int = 61
    sparsity_points: int = 41
    epsilon: float = 0.01
    max_entry: float = 1.0
    norm: float = 1.0
    profiles: tuple[str, ...] = ("attosecond", "photonic-thz", "photonic-ghz", "ibm_sherbrooke")
    classical: tuple[ClassicalModel, ...] = (ClassicalModel.LU, ClassicalModel.CG)
    classical_constant: float = 0.0

    def __post_init__(self) -> None:
        require(self.n >= 2, "n", f"must be >= 2, got {self.n}")
        require(1 <= self.fixed_sparsity <= self.n, "fixed_sparsity", f"must lie in 1..n = {self.n}, got {self.fixed_sparsity}")
        require(self.fixed_kappa >= 1, "fixed_kappa", f"must be >= 1, got {self.fixed_kappa}")
        require(1 <= self.kappa_min < self.kappa_max, "kappa_min", f"need 1 <= kappa_min < kappa_max, got {self.kappa_min}, {self.kappa_max}")
        require(2 <= self.kappa_points <= 1000, "kappa_points", f"must be in 2..1000, got {self.kappa_points}")
        require(2 <= self.sparsity_points <= 1000, "sparsity_points", f"must be in 2..1000, got {self.sparsity_points}")
        require(0 < self.epsilon <= 0.24, "epsilon", f"must lie in (0, 0.24] (validity of the query count), got {self.epsilon}")
        require(self.max_entry > 0 and self.norm > 0, "max_entry", "max_entry and norm must be > 0")
        check_profiles(self.profiles, "profiles")
        require(len(self.classical) > 0 and len(set(self.classical)) == len(self.classical), "classical", "list each model once, at least one")
        require(self.classical_constant >= 0, "classical_constant",
                f"must be >= 0 (0 = the saved profile, else the pinned default), got {self.classical_constant}")


def _query_time(profile: str) -> Any:
    """The per-query time model of a profile entry: "gate:SECONDS" or a calibration profile."""
    from qnewton.calibrate import query_time_model

    if profile.startswith("gate:"):
        return query_time_model(gate_time=gate_seconds(profile))
    return query_time_model(calibration=profile)


def _classical_models(p: Params, ctx: RunContext) -> dict[str, Any]:
    """Each classical model of `p.classical`: LU with the given C, CG (and best) at the same
    epsilon as the quantum solver; numbers not given come from this machine's saved profile,
    else the pinned defaults. Their sources go into ctx.extra["cost_sources"]."""
    from qnewton.calibrate import classical_cost_model

    out: dict[str, Any] = {}
    sources = ctx.extra.setdefault("cost_sources", {})
    for kind in p.classical:
        constant = p.classical_constant if p.classical_constant > 0 else None
        out[kind], sources[f"classical:{kind}"] = classical_cost_model(kind, constant, epsilon=p.epsilon,
                                                                       given_source=GIVEN_SOURCE)
        ctx.log(f"  classical {kind}: {sources[f'classical:{kind}']}")
    return out


def quantum_seconds(model: Any, n: int, d: int, kappa: float, p: Params) -> tuple[float, float]:
    """(MODELED seconds, expected queries) of one quantum solve."""
    cost = model.estimate(int(n), int(d), float(kappa), max_entry=p.max_entry, norm=p.norm)
    return float(cost.total_seconds), float(cost.expected_queries)


def classical_seconds(model: Any, n: int, d: int, kappa: float) -> float:
    """MODELED seconds of one classical solve (LU: C N^3; CG: from N, d, kappa)."""
    return float(model.seconds(int(n), sparsity=int(d), kappa=float(kappa)))


def crossover(xs: np.ndarray, quantum: np.ndarray, classical: np.ndarray) -> tuple[float | None, str]:
    """First x where log(R_q / R_c) changes sign (log-linear interpolation), and a description."""
    r = np.log(quantum) - np.log(classical)
    ok = np.isfinite(r)
    xs, r = xs[ok], r[ok]
    if r.size == 0:
        return None, "no finite costs"
    for i in range(r.size - 1):
        if r[i] == 0:
            return float(xs[i]), "equal"
        if r[i] * r[i + 1] < 0:
            lx0, lx1 = math.log(xs[i]), math.log(xs[i + 1])
            t = r[i] / (r[i] - r[i + 1])
            side = "quantum cheaper below" if r[i] < 0 else "classical cheaper below"
            return float(math.exp(lx0 + t * (lx1 - lx0))), side
    return None, "quantum cheaper throughout" if np.all(r < 0) else "classical cheaper throughout"


def run_seed(p: Params, seed: int, ctx: RunContext) -> Tables:
    from qnewton.costs.quantum import QuantumCostModel

    kappas = np.geomspace(p.kappa_min, p.kappa_max, p.kappa_points)
    ds = np.unique(np.round(np.geomspace(1, p.n, p.sparsity_points)).astype(np.int64))
    classical = _classical_models(p, ctx)
    sweeps: dict[str, tuple[np.ndarray, Any]] = {
        "kappa": (kappas, lambda x: (p.fixed_sparsity, float(x))),
        "sparsity": (ds.astype(np.float64), lambda x: (int(x), p.fixed_kappa)),
    }
    curves, crossings = [], []
    cache: dict[tuple[str, str], np.ndarray] = {}
    for sweep, (xs, point) in sweeps.items():
        for kind, model in classical.items():
            ys = np.array([classical_seconds(model, p.n, *point(x)) for x in xs])
            cache[(sweep, f"classical:{kind}")] = ys
            curves += [{"sweep": sweep, "solver": "classical", "model": kind, "x": float(x), "modeled_seconds": float(y),
                        "expected_queries": None} for x, y in zip(xs, ys)]
        for profile in p.profiles:
            qmodel = QuantumCostModel(query_time=_query_time(profile), epsilon=p.epsilon)
            pts = [quantum_seconds(qmodel, p.n, *point(x), p) for x in xs]
            ys = np.array([s for s, _ in pts])
            cache[(sweep, f"quantum:{profile}")] = ys
            curves += [{"sweep": sweep, "solver": "quantum", "model": profile, "x": float(x), "modeled_seconds": s,
                        "expected_queries": q} for x, (s, q) in zip(xs, pts)]
        for profile in p.profiles:
            for kind in classical:
                x_cross, how = crossover(xs, cache[(sweep, f"quantum:{profile}")], cache[(sweep, f"classical:{kind}")])
                crossings.append({"sweep": sweep, "quantum_profile": profile, "classical_model": kind,
                                  "crossover_x": x_cross, "outcome": how})
                ctx.log(f"  {sweep}: quantum {profile} vs classical {kind}: "
                        + (f"crossover at {x_cross:.4g} ({how})" if x_cross is not None else how))
    if ClassicalModel.LU in classical:
        const = float(getattr(classical[ClassicalModel.LU], "constant", float("nan")))
        crossings.append({"sweep": "-", "quantum_profile": "-", "classical_model": ClassicalModel.LU, "crossover_x": None,
                          "outcome": f"C = {const:.4g} s/N^3, R_c(N={p.n}) = {const * p.n ** 3:.4g} s"})
    return {"curves": curves, "crossovers": crossings}


def plot(p: Params, tables: Tables, out: Path) -> list[Path]:
    fig, axes = figure(ncols=2, width=5.6)
    for ax, sweep, xlabel, fixed in ((axes[0][0], "kappa", "condition number kappa", f"d = {p.fixed_sparsity}"),
                                     (axes[0][1], "sparsity", "oracle sparsity d", f"kappa = {p.fixed_kappa:g}")):
        rows = [r for r in tables["curves"] if r["sweep"] == sweep]
        for solver, model in dict.fromkeys((r["solver"], r["model"]) for r in rows):
            sel = sorted((r for r in rows if r["solver"] == solver and r["model"] == model), key=lambda r: r["x"])
            xs = [r["x"] for r in sel]
            ys = [value(r, "modeled_seconds") for r in sel]
            ax.plot(xs, ys, "-" if solver == "quantum" else "--", label=f"{solver}: {model}")
        for c in tables["crossovers"]:
            if c["sweep"] == sweep and c.get("crossover_x_mean") is not None:
                ax.axvline(c["crossover_x_mean"], color="grey", linestyle=":", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("MODELED seconds per solve")
        ax.set_title(f"N = {p.n}, {fixed}; dotted = crossovers")
        ax.legend(fontsize=7)
    fig.suptitle("Fig. 5: solver cost scaling (cost models)")
    return [save(fig, out / "fig5-cost-scaling.png")]


EXPERIMENT = Experiment(
    name="fig5-cost-scaling",
    title="Classical and quantum solver cost against kappa and against sparsity d",
    paper="Fig. 5",
    params_type=Params,
    tables=(
        TableSpec("curves", ("sweep", "solver", "model", "x"), "MODELED seconds per solve along each sweep",
                  ("modeled_seconds", "expected_queries")),
        TableSpec("crossovers", ("sweep", "quantum_profile", "classical_model"), "Where R_q = R_c (x = kappa or d)",
                  ("crossover_x", "outcome")),
    ),
    run_seed=run_seed,
    plot=plot,
)
