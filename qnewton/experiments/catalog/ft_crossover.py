"""ft-crossover: where does a quantum solve on error-corrected hardware beat the classical one?

For each fault-tolerant profile (`calibrations/ft-*.json`: a qubit model, a QEC scheme and an
error budget of Microsoft's resource estimator) the quantum solve is priced by
`qnewton.calibrate.ft_query_time`: our logical model of the QLSA (`qnewton.costs.ft_logical`:
sparse-access block encoding, state preparation, Jennings et al.'s query count) handed to the
estimator, which returns the run time, physical qubits and code distance. The classical side is
LU (R_c = C N^3) and CG (~ N d sqrt(kappa) ln(2/eps) multiply-adds) with the pinned constants of
`qnewton.costs.classical` unless numbers are given. Everything is MODELED; nothing is timed except
the short training run of the per-method table.

Tables:

* ``curves``: MODELED seconds per solve against N (kappa, d fixed) and against kappa (N, d fixed),
  with physical qubits and code distance of each quantum point;
* ``crossovers``: where R_q = R_c along each sweep (log-linear interpolation between points);
* ``per_query``: each profile's effective per-query time at one reference point, and how many
  orders of magnitude it lies above the paper's 1e-18 s, with the profile's oracle and with the
  stored-entry oracles (`oracles`: an unstructured Hessian loaded by lookups);
* ``methods``: a Table III-like projection. A short classical-only training run on digits
  (`train_steps` steps, Lanczos kappa) gives the blocks of every Newton step (N, d, kappa from its
  ledger); each is priced both ways under each profile and summed per method: classical-only
  (LU), quantum-only (every block on the FT machine), Q-Newton (the cheaper per block) and SGD (no
  inversion). MODELED inversion seconds per step, MEASURED other work per step from the ledger,
  their sum as ``projected_`` seconds, and the largest physical-qubit count the method needs;
* ``circuits``: a cross-check on real circuits. Our HHL and QSVT circuits (`qnewton circuit`) for
  small N, estimated through the estimator's Qiskit entry point, next to the logical model at the
  same (N, d = N, kappa). They differ, and should: the circuits block-encode A by an exact dense
  dilation synthesised into O(4^n) arbitrary rotations and a polynomial of low degree, the model
  counts sparse-access oracles in Toffolis and Jennings et al.'s worst-case query bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qnewton.enums import ClassicalModel, KappaMethod
from qnewton.experiments.catalog.fig5_cost_scaling import crossover
from qnewton.experiments.plotting import figure, save
from qnewton.experiments.aggregate import value
from qnewton.experiments.params import require
from qnewton.experiments.spec import Experiment, RunContext, TableSpec, Tables

PAPER_GATE_SECONDS = 1e-18


@dataclass(frozen=True)
class Params:
    """profiles: fault-tolerant calibration profiles; classical: classical models; n_min, n_max,
    n_points: the N sweep (log-spaced) at kappa = fixed_kappa, d = fixed_sparsity; kappa_min,
    kappa_max, kappa_points: the kappa sweep at N = fixed_n, d = fixed_sparsity; epsilon: QLSA
    tolerance; classical_constant, cg_rate: 0 = the pinned constants; train_steps: steps of the
    classical training run whose blocks the per-method table prices (0 = skip it); sgd_steps:
    its SGD warm-up; circuit_sizes: N of the HHL / QSVT cross-check (empty = skip);
    circuit_kappa: their condition number; oracles: block-encoding oracle kinds priced in the
    per-query table besides each profile's own (`qnewton.costs.ft_logical.ORACLES`)."""

    profiles: tuple[str, ...] = ("ft-surface-gate-ns-e3", "ft-surface-gate-us-e4", "ft-floquet-maj-ns-e6")
    classical: tuple[ClassicalModel, ...] = (ClassicalModel.LU, ClassicalModel.CG)
    fixed_n: int = 12544
    fixed_kappa: float = 100.0
    fixed_sparsity: int = 10
    n_min: int = 16
    n_max: int = 10**8
    n_points: int = 29
    kappa_min: float = 4.0
    kappa_max: float = 1e8
    kappa_points: int = 29
    epsilon: float = 0.01
    classical_constant: float = 0.0
    cg_rate: float = 0.0
    train_steps: int = 20
    sgd_steps: int = 10
    circuit_sizes: tuple[int, ...] = (2, 4, 8)
    circuit_kappa: float = 10.0
    oracles: tuple[str, ...] = ("arithmetic", "qrom", "qroam")

    def __post_init__(self) -> None:
        from qnewton.calibrate.profile_files import load_profile

        require(len(self.profiles) > 0, "profiles", "list at least one fault-tolerant profile")
        for name in self.profiles:
            try:
                profile = load_profile(name)
            except Exception as exc:  # UsageError from the loader, one line
                raise type(exc)(f"profiles: {exc}") from None
            require(profile.kind == "fault-tolerant", "profiles", f"{name!r} is a {profile.kind} profile, not fault-tolerant")
        require(len(self.classical) > 0 and len(set(self.classical)) == len(self.classical), "classical",
                "list each model once, at least one")
        require(1 <= self.fixed_sparsity <= self.n_min, "fixed_sparsity", f"must lie in 1..n_min = {self.n_min}")
        require(self.fixed_sparsity <= self.fixed_n, "fixed_n", f"must be >= fixed_sparsity = {self.fixed_sparsity}")
        require(2 <= self.n_min < self.n_max <= 10**12, "n_min", f"need 2 <= n_min < n_max <= 1e12, got {self.n_min}, {self.n_max}")
        require(2 <= self.n_points <= 400, "n_points", f"must be in 2..400, got {self.n_points}")
        require(math.sqrt(12) <= self.kappa_min < self.kappa_max <= 1e15, "kappa_min",
                f"need sqrt(12) <= kappa_min < kappa_max <= 1e15, got {self.kappa_min}, {self.kappa_max}")
        require(math.sqrt(12) <= self.fixed_kappa <= 1e15, "fixed_kappa", f"must lie in [sqrt(12), 1e15], got {self.fixed_kappa}")
        require(2 <= self.kappa_points <= 400, "kappa_points", f"must be in 2..400, got {self.kappa_points}")
        require(0 < self.epsilon <= 0.24, "epsilon", f"must lie in (0, 0.24], got {self.epsilon}")
        require(self.classical_constant >= 0 and self.cg_rate >= 0, "classical_constant",
                "classical_constant and cg_rate must be >= 0 (0 = pinned)")
        require(0 <= self.train_steps <= 1000, "train_steps", f"must be in 0..1000, got {self.train_steps}")
        require(0 <= self.sgd_steps < max(self.train_steps, 1) or self.train_steps == 0, "sgd_steps",
                f"must be in 0..train_steps - 1, got {self.sgd_steps}")
        require(all(2 <= n <= 16 for n in self.circuit_sizes), "circuit_sizes", "each N must be in 2..16 (circuits are simulated sizes)")
        from qnewton.costs.ft_logical import ORACLES

        require(all(o in ORACLES for o in self.oracles), "oracles", f"each must be one of {', '.join(ORACLES)}, got {self.oracles}")
        require(math.sqrt(12) <= self.circuit_kappa <= 1e4, "circuit_kappa", f"must lie in [sqrt(12), 1e4], got {self.circuit_kappa}")


def _classical(p: Params, ctx: RunContext) -> dict[str, Any]:
    from qnewton.calibrate import classical_cost_model

    out: dict[str, Any] = {}
    sources = ctx.extra.setdefault("cost_sources", {})
    for kind in p.classical:
        model, source = classical_cost_model(kind, p.classical_constant or "pinned", p.cg_rate or "pinned", epsilon=p.epsilon,
                                             given_source="given (experiment parameter)")
        out[str(kind)] = model
        sources[f"classical:{kind}"] = source
    return out


def _classical_seconds(model: Any, n: int, d: int, kappa: float) -> float:
    return float(model.seconds(int(n), sparsity=int(d), kappa=float(kappa)))


def _quantum(p: Params) -> dict[str, Any]:
    from qnewton.calibrate import query_time_model
    from qnewton.costs.quantum import QuantumCostModel

    return {name: QuantumCostModel(query_time=query_time_model(calibration=name), epsilon=p.epsilon) for name in p.profiles}


def _quantum_point(model: Any, n: int, d: int, kappa: float) -> dict[str, Any]:
    """MODELED seconds, per-query seconds, physical qubits, code distance of one solve."""
    cost = model.estimate(int(n), int(d), float(kappa))
    solve = model.query_time.solve(cost.n, cost.sparsity, cost.kappa_used, cost.epsilon, cost.alpha)
    return {"modeled_seconds": float(cost.total_seconds), "modeled_seconds_per_query": float(cost.seconds_per_query),
            "physical_qubits": solve.physical.physical_qubits, "code_distance": solve.physical.code_distance,
            "extrapolated": solve.extrapolated}


def _sweeps(p: Params, classical: dict[str, Any], quantum: dict[str, Any], ctx: RunContext) -> tuple[list, list]:
    ns = np.unique(np.round(np.geomspace(p.n_min, p.n_max, p.n_points)).astype(np.int64))
    kappas = np.geomspace(p.kappa_min, p.kappa_max, p.kappa_points)
    sweeps = {
        "n": (ns.astype(np.float64), lambda x: (int(x), p.fixed_sparsity, p.fixed_kappa)),
        "kappa": (kappas, lambda x: (p.fixed_n, p.fixed_sparsity, float(x))),
    }
    curves, crossings = [], []
    for sweep, (xs, point) in sweeps.items():
        ys: dict[str, np.ndarray] = {}
        for kind, model in classical.items():
            ys[f"classical:{kind}"] = np.array([_classical_seconds(model, *point(x)) for x in xs])
            curves += [{"sweep": sweep, "solver": "classical", "model": kind, "x": float(x), "modeled_seconds": float(y),
                        "modeled_seconds_per_query": None, "physical_qubits": None, "code_distance": None}
                       for x, y in zip(xs, ys[f"classical:{kind}"])]
        for name, model in quantum.items():
            pts = [_quantum_point(model, *point(x)) for x in xs]
            ys[f"quantum:{name}"] = np.array([q["modeled_seconds"] for q in pts])
            curves += [{"sweep": sweep, "solver": "quantum", "model": name, "x": float(x), **q} for x, q in zip(xs, pts)]
            for kind in classical:
                x_cross, how = crossover(xs, ys[f"quantum:{name}"], ys[f"classical:{kind}"])
                crossings.append({"sweep": sweep, "quantum_profile": name, "classical_model": kind,
                                  "crossover_x": x_cross, "outcome": how})
                ctx.log(f"  {sweep}: {name} vs {kind}: " + (f"crossover at {x_cross:.4g} ({how})" if x_cross else how))
    return curves, crossings


def _oracle_variants(p: Params, name: str, model: Any) -> list[tuple[str, Any]]:
    """(oracle kind, cost model) for the profile's own oracle and each of `p.oracles`."""
    from dataclasses import replace

    from qnewton.calibrate.ft_query_time import FaultTolerantQueryTimeModel
    from qnewton.costs.quantum import QuantumCostModel

    spec = model.query_time.spec
    out = [(spec.logical_model.oracle, model)]
    for oracle in p.oracles:
        if oracle != spec.logical_model.oracle:
            variant = replace(spec, logical_model=replace(spec.logical_model, oracle=oracle))
            out.append((oracle, QuantumCostModel(query_time=FaultTolerantQueryTimeModel(variant, label=name), epsilon=p.epsilon)))
    return out


def _per_query(p: Params, quantum: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, profile_model in quantum.items():
        for oracle, model in _oracle_variants(p, name, profile_model):
            q = _quantum_point(model, p.fixed_n, p.fixed_sparsity, p.fixed_kappa)
            spq = q["modeled_seconds_per_query"]
            rows.append({"profile": name, "oracle": oracle, "estimator": model.query_time.estimator, "n": p.fixed_n,
                         "sparsity": p.fixed_sparsity, "kappa": p.fixed_kappa, "modeled_seconds_per_query": spq,
                         "log10_ratio_to_paper_gate_time": math.log10(spq / PAPER_GATE_SECONDS),
                         "modeled_seconds": q["modeled_seconds"], "physical_qubits": q["physical_qubits"],
                         "code_distance": q["code_distance"]})
    return rows


def _blocks(p: Params, seed: int, ctx: RunContext) -> tuple[list[list[dict[str, Any]]], list[float]]:
    """Per Newton step: its blocks (n, sparsity, kappa), and the MEASURED seconds of the step's
    work other than the solve, from a classical-only training run's ledger."""
    from qnewton.experiments.training import TrainingParams, as_float, ledger_rows, train

    tp = TrainingParams(steps=p.train_steps, sgd_steps=p.sgd_steps, kappa_method=KappaMethod.LANCZOS,
                        classical_constant=p.classical_constant or _pinned_lu(), eval_every=max(p.train_steps, 1))
    _, run_dir = train(tp, seed, ctx, name="ft-crossover", method="classical")
    steps, other = [], []
    for row in ledger_rows(run_dir, "classical"):
        if row.get("phase") != "newton" or not row.get("blocks"):
            continue
        steps.append([{"n": int(b["n"]), "sparsity": int(b["sparsity"]), "kappa": as_float(b["kappa_estimate"])}
                      for b in row["blocks"]])
        measured = row.get("measured_seconds", {})
        other.append(float(sum(v for k, v in measured.items() if k != "solve")))
    return steps, other


def _pinned_lu() -> float:
    from qnewton.costs.classical import PINNED_LU_CONSTANT

    return float(PINNED_LU_CONSTANT)


def _methods(p: Params, seed: int, ctx: RunContext, classical: dict[str, Any], quantum: dict[str, Any]) -> list[dict[str, Any]]:
    steps, other = _blocks(p, seed, ctx)
    if not steps:
        return []
    lu = classical.get(str(ClassicalModel.LU)) or next(iter(classical.values()))
    measured_other = float(np.mean(other))
    rows = [{"profile": "-", "method": "sgd", "newton_steps": len(steps), "modeled_inversion_seconds_per_step": 0.0,
             "measured_other_seconds_per_step": None, "projected_seconds_per_step": None, "quantum_share": 0.0,
             "physical_qubits": 0, "block_sizes": "-"}]
    sizes = sorted({b["n"] for s in steps for b in s})
    for name, model in quantum.items():
        per = {"classical-only": [], "quantum-only": [], "q-newton": []}
        qubits = {"classical-only": 0, "quantum-only": 0, "q-newton": 0}
        chosen = 0
        total = 0
        for blocks in steps:
            c_sum = q_sum = h_sum = 0.0
            for b in blocks:
                c = _classical_seconds(lu, b["n"], b["sparsity"], b["kappa"])
                q = _quantum_point(model, b["n"], b["sparsity"], b["kappa"])
                c_sum += c
                q_sum += q["modeled_seconds"]
                qubits["quantum-only"] = max(qubits["quantum-only"], q["physical_qubits"])
                total += 1
                if q["modeled_seconds"] <= c:
                    h_sum += q["modeled_seconds"]
                    chosen += 1
                    qubits["q-newton"] = max(qubits["q-newton"], q["physical_qubits"])
                else:
                    h_sum += c
            per["classical-only"].append(c_sum)
            per["quantum-only"].append(q_sum)
            per["q-newton"].append(h_sum)
        share = {"classical-only": 0.0, "quantum-only": 1.0, "q-newton": chosen / max(total, 1)}
        for method, values in per.items():
            mean = float(np.mean(values))
            rows.append({"profile": name, "method": method, "newton_steps": len(steps),
                         "modeled_inversion_seconds_per_step": mean, "measured_other_seconds_per_step": measured_other,
                         "projected_seconds_per_step": measured_other + mean, "quantum_share": share[method],
                         "physical_qubits": qubits[method], "block_sizes": "/".join(str(n) for n in sizes)})
    return rows


def _circuits(p: Params, seed: int, ctx: RunContext) -> list[dict[str, Any]]:
    from qnewton.calibrate.ft_estimate import estimate_circuit, estimate_counts
    from qnewton.calibrate.profile_files import load_profile
    from qnewton.costs.ft_logical import solve_counts
    from qnewton.costs.quantum import query_count
    from qnewton.quantum.examples import random_spd
    from qnewton.solvers.circuit import build_circuit

    spec = load_profile(p.profiles[0]).fault_tolerant
    assert spec is not None
    rng = np.random.default_rng(seed)
    rows = []
    for n in p.circuit_sizes:
        A = random_spd(rng, n, p.circuit_kappa)
        b = np.ones(n)
        for method in ("hhl", "qsvt"):
            circuit = build_circuit(method, A, b).circuit
            est, logical = estimate_circuit(circuit, spec.qubit_model, spec.qec_scheme, spec.error_budget)
            queries = circuit.count_ops().get("U_A") if method == "qsvt" else None
            rows.append({"n": n, "method": method, "source": "circuit (qdk Qiskit estimate)", "profile": p.profiles[0],
                         "queries": queries, "logical_qubits": logical.get("numQubits"), "t_count": logical.get("tCount"),
                         "toffolis": logical.get("cczCount", 0) + logical.get("ccixCount", 0),
                         "rotations": logical.get("rotationCount"), "physical_qubits": est.physical_qubits,
                         "modeled_run_seconds": est.runtime_seconds, "code_distance": est.code_distance})
            ctx.log(f"  circuit {method} N={n}: {logical}")
        counts = solve_counts(n, n, p.circuit_kappa, p.epsilon, options=spec.logical_model)
        est = estimate_counts(counts.to_estimator(), spec.qubit_model, spec.qec_scheme, spec.error_budget)
        rows.append({"n": n, "method": "jennings", "source": "logical model (d = N)", "profile": p.profiles[0],
                     "queries": int(math.ceil(query_count(p.circuit_kappa, p.epsilon, float(n)))),
                     "logical_qubits": counts.logical_qubits, "t_count": counts.t_count, "toffolis": counts.toffolis,
                     "rotations": counts.rotations, "physical_qubits": est.physical_qubits,
                     "modeled_run_seconds": est.runtime_seconds, "code_distance": est.code_distance})
    return rows


def run_seed(p: Params, seed: int, ctx: RunContext) -> Tables:
    classical = _classical(p, ctx)
    quantum = _quantum(p)
    ctx.extra.setdefault("cost_sources", {})["quantum"] = {name: m.query_time.estimator for name, m in quantum.items()}
    curves, crossings = _sweeps(p, classical, quantum, ctx)
    tables: Tables = {"curves": curves, "crossovers": crossings, "per_query": _per_query(p, quantum)}
    tables["methods"] = _methods(p, seed, ctx, classical, quantum) if p.train_steps > 0 else []
    tables["circuits"] = _circuits(p, seed, ctx) if p.circuit_sizes else []
    return tables


def plot(p: Params, tables: Tables, out: Path) -> list[Path]:
    fig, axes = figure(ncols=3, width=5.0)
    panels = ((axes[0][0], "n", "matrix size N", f"kappa = {p.fixed_kappa:g}, d = {p.fixed_sparsity}", "modeled_seconds"),
              (axes[0][1], "kappa", "condition number kappa", f"N = {p.fixed_n}, d = {p.fixed_sparsity}", "modeled_seconds"),
              (axes[0][2], "n", "matrix size N", f"kappa = {p.fixed_kappa:g}, d = {p.fixed_sparsity}", "physical_qubits"))
    for ax, sweep, xlabel, fixed, column in panels:
        rows = [r for r in tables["curves"] if r["sweep"] == sweep]
        for solver, model in dict.fromkeys((r["solver"], r["model"]) for r in rows):
            if column == "physical_qubits" and solver != "quantum":
                continue
            sel = sorted((r for r in rows if r["solver"] == solver and r["model"] == model), key=lambda r: r["x"])
            ax.plot([r["x"] for r in sel], [value(r, column) for r in sel], "-" if solver == "quantum" else "--",
                    label=f"{solver}: {model}")
        if column == "modeled_seconds":
            for c in tables["crossovers"]:
                if c["sweep"] == sweep and c.get("crossover_x_mean") is not None:
                    ax.axvline(c["crossover_x_mean"], color="grey", linestyle=":", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("MODELED seconds per solve" if column == "modeled_seconds" else "MODELED physical qubits")
        ax.set_title(fixed + ("; dotted = crossovers" if column == "modeled_seconds" else ""), fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle("Fault-tolerant QLSA (qdk resource estimator) against classical LU / CG")
    return [save(fig, out / "ft-crossover.png")]


EXPERIMENT = Experiment(
    name="ft-crossover",
    title="Quantum solve on error-corrected hardware against classical LU / CG: crossovers in N and kappa",
    paper="Sec. IV-C / Fig. 5 / Table III",
    params_type=Params,
    tables=(
        TableSpec("curves", ("sweep", "solver", "model", "x"), "MODELED seconds per solve along each sweep",
                  ("modeled_seconds", "modeled_seconds_per_query", "physical_qubits", "code_distance")),
        TableSpec("crossovers", ("sweep", "quantum_profile", "classical_model"), "Where R_q = R_c (x = N or kappa)",
                  ("crossover_x", "outcome")),
        TableSpec("per_query", ("profile", "oracle"), "Effective per-query time of each profile against the paper's 1e-18 s",
                  ("modeled_seconds_per_query", "log10_ratio_to_paper_gate_time", "physical_qubits", "code_distance")),
        TableSpec("methods", ("profile", "method"), "Table III-like: inversion seconds per Newton step (MODELED) and qubits",
                  ("newton_steps", "modeled_inversion_seconds_per_step", "measured_other_seconds_per_step",
                   "projected_seconds_per_step", "quantum_share", "physical_qubits", "block_sizes")),
        TableSpec("circuits", ("n", "method", "source"), "HHL / QSVT circuits through the estimator against the logical model",
                  ("queries", "logical_qubits", "t_count", "toffolis", "rotations", "physical_qubits",
                   "modeled_run_seconds", "code_distance")),
    ),
    run_seed=run_seed,
    plot=plot,
)
