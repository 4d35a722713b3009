"""`qnewton cost`: both solvers' costs for one (N, kappa, d, eps) point or a sweep.

Paper Sec. II-E, IV-C, Fig. 5. Quantum numbers are MODELED: Jennings et al. query counts x the
per-query time of `qnewton.calibrate.query_time_model` (`--gate-time`, `--calibration`, default
`qnewton.costs.query_time.DEFAULT_GATE_TIME` = 1e-9 s; the paper's 1e-18 s is `--gate-time
1e-18`; a fault-tolerant profile prices the logical circuit with the resource estimator and adds
physical_qubits, code_distance and estimator to the output). Classical numbers are MODELED too, from `qnewton.calibrate.classical_cost_model`: C (or
a CG rate) from `--classical-constant`, else the saved `qnewton calibrate classical` profile,
else the pinned default; `classical_source` in the output says which. `--sweep` prints the
crossover table and writes a plot (`qnewton.cli.cost_sweep`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from qnewton.cli.common import check_count, fmt
from qnewton.cli.cost_sweep import SWEEP_PARAMS, crossovers, parse_sweep, plot_panels
from qnewton.enums import ClassicalModel, Readout, choices
from qnewton.errors import UsageError
from qnewton.jsonutil import json_ready


def _query_time(args: argparse.Namespace) -> Any:
    """The per-query time model of --gate-time / --calibration (one default for every command)."""
    from qnewton.calibrate import query_time_model

    return query_time_model(args.gate_time, args.calibration)


def _classical(args: argparse.Namespace) -> tuple[Any, str]:
    """(classical model, where its numbers came from) of --classical, --classical-constant,
    --cg-rate and --profile: a given number, else the profile (--profile or the saved one), else
    the pinned default; a fresh fit only for the word "fit"."""
    from qnewton.calibrate import classical_cost_model

    return classical_cost_model(args.classical, args.classical_constant, args.cg_rate, profile=args.profile,
                                epsilon=args.epsilon,
                                given_source={"classical_constant": "--classical-constant", "cg_rate": "--cg-rate"})


def _cost_value(text: str) -> float | str:
    """--classical-constant / --cg-rate: a positive number or one of the words of COST_SPECS."""
    from qnewton.calibrate.resolve import COST_SPECS

    word = text.strip().lower()
    if word in COST_SPECS:
        return word
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number or one of {', '.join(COST_SPECS)}, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def _point(args, quantum_model, classical_model, n: int, d: int, kappa: float) -> dict[str, Any]:
    if d > n:
        raise UsageError(f"--sparsity: d = {d} exceeds N = {n}")
    cost = quantum_model.estimate(
        n, d, kappa, alpha=args.alpha, max_entry=args.max_entry, norm=args.norm if args.max_entry is not None else None
    )
    if hasattr(classical_model, "choose"):
        c_sec, c_used = classical_model.choose(n, d, kappa)
    else:
        c_sec, c_used = float(classical_model.seconds(n, d, kappa)), classical_model.name
    decision = "quantum" if cost.total_seconds <= c_sec else "classical"
    row = {
        "n": n,
        "sparsity": d,
        "kappa": kappa,
        "kappa_used": cost.kappa_used,
        "epsilon": cost.epsilon,
        "alpha": cost.alpha,
        "query_count": cost.query_count,
        "success_probability": cost.success_probability,
        "expected_queries": cost.expected_queries,
        "state_preparation_queries": cost.state_preparation_queries,
        "seconds_per_query": cost.seconds_per_query,
        "query_time_model": cost.query_time_model,
        "quantum_solve_seconds": cost.seconds,
        "readout": cost.readout,
        "readout_seconds": cost.readout_seconds,
        "quantum_seconds": cost.total_seconds,
        "classical_seconds": c_sec,
        "classical_model": c_used,
        "logical_qubits": cost.logical_qubits,
        "ancillas": cost.ancillas,
        "decision": decision,
        "seconds_kind": "modeled",  # every *_seconds here comes from a cost model, none was measured
        "notes": list(cost.notes),
    }
    row.update(_physical(quantum_model.query_time, cost))
    return row


def _physical(query_time: Any, cost: Any) -> dict[str, Any]:
    """physical_qubits, code_distance and estimator of a fault-tolerant profile's run (plus its
    ft_* details); the three are None for every other per-query time model."""
    solve = getattr(query_time, "solve", None)
    if solve is None or not hasattr(query_time, "estimator"):
        return {"physical_qubits": None, "code_distance": None, "estimator": None}
    if cost.kappa_used == float("inf"):
        return {"physical_qubits": None, "code_distance": None, "estimator": query_time.estimator}
    return solve(cost.n, cost.sparsity, cost.kappa_used, cost.epsilon, cost.alpha).summary()


def run_cost(args: argparse.Namespace) -> int:
    """`qnewton cost`: one point or `--sweep` panels; MODELED quantum and classical seconds, qubits, decision."""
    from qnewton.costs.quantum import QuantumCostModel

    if args.alpha is not None and args.max_entry is not None:
        raise UsageError("--alpha and --max-entry: give one (alpha is derived from --max-entry)")
    if args.norm is not None and args.max_entry is None:
        raise UsageError("--norm: only meaningful with --max-entry")
    if args.max_entry is not None and args.norm is None:
        args.norm = 1.0
    sweeps = [parse_sweep(s) for s in (args.sweep or [])]
    swept = {name for name, _ in sweeps}
    for name, flag in (("n", args.n), ("kappa", args.kappa), ("sparsity", args.sparsity)):
        if flag is None and name not in swept:
            raise UsageError(f"--{name}: required (or sweep it with --sweep {name}=START:STOP:POINTS)")
    check_count("n", args.n)
    check_count("sparsity", args.sparsity)
    _check_cost_inputs(args)
    if sweeps and args.plot != "none":
        _check_plot(args)  # the plot path is checked before any pricing
    quantum_model = QuantumCostModel(
        query_time=_query_time(args),
        epsilon=args.epsilon,
        readout=args.readout,
        readout_precision=args.readout_precision,
        alpha=args.alpha,
        clamp=args.clamp,
    )
    if args.kappa is not None:  # fail on a bad kappa before the (possibly timed) classical model
        from qnewton.costs.quantum import check_kappa

        check_kappa(args.kappa, clamp=args.clamp)
    classical_model, source = _classical(args)

    if not sweeps:
        row = _point(args, quantum_model, classical_model, int(args.n), int(args.sparsity), float(args.kappa))
        row["classical_source"] = source
        if args.json:
            print(json.dumps(json_ready(row)))
            return 0
        print(f"N = {row['n']}, d = {row['sparsity']}, kappa = {fmt(row['kappa'])}, eps = {row['epsilon']:g}, alpha = {fmt(row['alpha'])}")
        print(f"  Q* (Jennings et al. Thm. 1)          {fmt(row['query_count'])}")
        print(f"  expected queries Q*/{row['success_probability']:.5f}      {fmt(row['expected_queries'])}")
        print(f"  state-preparation queries            {fmt(row['state_preparation_queries'])}")
        print(f"  logical qubits                       {row['logical_qubits']} (a = {row['ancillas']} + 6 + ceil(log2 N))")
        print(f"  seconds per query                    {fmt(row['seconds_per_query'])} ({row['query_time_model']})")
        print(f"  quantum seconds (MODELED)            {fmt(row['quantum_seconds'])} (solve {fmt(row['quantum_solve_seconds'])} + {row['readout']} readout {fmt(row['readout_seconds'])})")
        print(f"  classical seconds (MODELED, {row['classical_model']})     {fmt(row['classical_seconds'])}")
        if row["estimator"] is not None and row["physical_qubits"] is not None:
            print(f"  physical qubits (MODELED)            {row['physical_qubits']} (code distance {row['code_distance']}, "
                  f"{row['ft_t_factories']} T factories, {row['ft_logical_qubits']} logical qubits)")
            print(f"  one run (MODELED)                    {fmt(row['ft_run_seconds'])} s for {row['ft_priced_queries']} queries "
                  f"({row['ft_toffolis_per_query']} Toffolis per query incl. 2 state preparations)")
            print(f"  priced by                            {row['estimator']}")
        print(f"  decision                             {row['decision']}")
        for note in row["notes"]:
            print(f"  note: {note}")
        print(f"  classical model: {source}")
        return 0

    panels = []
    for name, values in sweeps:
        rows = []
        clamped = 0
        for v in values:
            n = int(v) if name == "n" else int(args.n)
            d = int(v) if name == "sparsity" else int(args.sparsity)
            k = float(v) if name == "kappa" else float(args.kappa)
            if d > n:
                if name == "sparsity":
                    continue  # d beyond N is not a matrix
                d = n
                clamped += 1
            rows.append(_point(args, quantum_model, classical_model, n, d, k))
        if not rows:
            raise UsageError(f"--sweep {name}: no valid points (sparsity must not exceed N)")
        xs = np.array([r[name] for r in rows], dtype=float)
        q = np.array([r["quantum_seconds"] for r in rows], dtype=float)
        c = np.array([r["classical_seconds"] for r in rows], dtype=float)
        panel: dict[str, Any] = {"param": name, "rows": rows, "crossovers": crossovers(xs, q, c)}
        if clamped:
            panel["note"] = f"sparsity d = {args.sparsity} exceeds N at {clamped} point(s); d = N used there"
        panels.append(panel)
    plot_path = plot_panels(panels, args, _check_plot(args)) if args.plot != "none" else None
    if args.json:
        print(json.dumps(json_ready({"sweeps": panels, "plot": str(plot_path) if plot_path else None, "classical_source": source})))
        return 0
    for panel in panels:
        name = panel["param"]
        fixed = ", ".join(f"{k} = {fmt(float(getattr(args, k)))}" for k in SWEEP_PARAMS if k != name and getattr(args, k) is not None)
        print(f"sweep over {name} ({fixed}; eps = {args.epsilon:g}; quantum MODELED, classical MODELED from {panel['rows'][0]['classical_model']})")
        print(f"  {name:>10}  {'expected queries':>16}  {'quantum s':>11}  {'classical s':>11}  decision")
        for r in panel["rows"]:
            print(f"  {fmt(float(r[name])):>10}  {fmt(r['expected_queries']):>16}  {fmt(r['quantum_seconds']):>11}  {fmt(r['classical_seconds']):>11}  {r['decision']}")
        if panel["crossovers"]:
            for cx in panel["crossovers"]:
                print(f"  crossover at {name} ~ {fmt(cx['x'])}: {cx['to']} cheaper above")
        else:
            first = panel["rows"][0]["decision"]
            print(f"  no crossover in range: {first} cheaper throughout")
        if "note" in panel:
            print(f"  note: {panel['note']}")
    if plot_path:
        print(f"plot written to {plot_path}")
    print(f"classical model: {source}")
    return 0


def _cost_inputs(args: argparse.Namespace) -> tuple[str, ...]:
    """The files `cost` reads: --profile, and --calibration when it names a file."""
    inputs = [args.profile] if args.profile else []
    if args.calibration and Path(args.calibration).expanduser().is_file():
        inputs.append(args.calibration)
    return tuple(inputs)


def _check_cost_inputs(args: argparse.Namespace) -> None:
    """Read the classical profile JSON (--profile, or the saved default) with the size and nesting
    limits before the cost model parses it, so a hostile file is one line, not a crash."""
    from qnewton.calibrate.classical_profile import default_profile_path
    from qnewton.jsonutil import load_json_file

    if args.classical == ClassicalModel.LU and isinstance(args.classical_constant, float):
        return  # the profile is not read
    if args.classical == ClassicalModel.CG and isinstance(args.cg_rate, float):
        return
    if all(isinstance(v, float) for v in (args.classical_constant, args.cg_rate)):
        return
    if args.profile is not None:
        load_json_file(args.profile, field="--profile")
    elif default_profile_path().exists():
        load_json_file(default_profile_path(), field="classical profile")


def _check_plot(args: argparse.Namespace) -> Path:
    """--plot: a .png that is not one of the inputs; an existing file only with --force."""
    from qnewton.files import check_output

    path = Path(args.plot).expanduser()
    if path.suffix.lower() != ".png":
        raise UsageError(f"--plot: unsupported file type {path.suffix or '(none)'}; use .png (or 'none' to skip the plot)")
    return check_output(path, force=args.force, inputs=_cost_inputs(args), field="--plot")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `cost` command."""
    p = subparsers.add_parser(
        "cost",
        help="quantum vs classical cost of one inversion (Jennings et al. query counts; paper Fig. 5)",
        description=(
            "Price one Hessian inversion both ways: MODELED quantum seconds = per-query time x expected "
            "queries Q*/(0.39-0.201 eps) (+ readout), MODELED classical seconds = C N^3 (C from the saved "
            "`qnewton calibrate classical` profile, else pinned) or the CG model. --sweep PARAM=START:STOP:POINTS (kappa, sparsity, n; log-spaced, "
            "repeatable) prints the crossover table and writes a PNG like the paper's Fig. 5."
        ),
    )
    p.add_argument("--n", type=int, default=None, help="matrix size N")
    p.add_argument("--kappa", type=float, default=None, help="condition number kappa (>= sqrt(12) unless --clamp)")
    p.add_argument("--sparsity", type=int, default=None, help="oracle sparsity d (max nonzeros per row)")
    p.add_argument("--epsilon", type=float, default=0.01, help="solver error tolerance, 0 < eps <= 0.24 (default 0.01)")
    p.add_argument("--alpha", type=float, default=None, help="block-encoding subnormalization alpha (default: d, or from --max-entry)")
    p.add_argument("--max-entry", type=float, default=None, help="max|A_ij|: alpha = d * max-entry / norm")
    p.add_argument("--norm", type=float, default=None, help="||A||_2 used with --max-entry (default 1: A already scaled)")
    timing = p.add_mutually_exclusive_group()
    timing.add_argument("--gate-time", type=float, default=None, metavar="SECONDS",
                        help="seconds per query (default 1e-9, a hypothetical 1 GHz query rate; the paper's "
                             "attosecond gate is --gate-time 1e-18)")
    timing.add_argument("--calibration", default=None, metavar="NAME|PATH",
                        help="per-query time from a calibration profile (see `qnewton calibration list`)")
    p.add_argument("--readout", choices=choices(Readout), default=Readout.FREE.value,
                   help="readout model: free (the paper) or swap-test (N overlaps, 1/delta^2 shots each)")
    p.add_argument("--readout-precision", type=float, default=0.01, metavar="DELTA", help="swap-test precision delta (default 0.01)")
    p.add_argument("--classical", choices=choices(ClassicalModel), default=ClassicalModel.LU.value,
                   help="classical model (default lu, as in the paper)")
    p.add_argument("--classical-constant", type=_cost_value, default=None, metavar="C|pinned|profile|fit",
                   help="C of R_c = C N^3: a number, or where to take it from (default: the saved profile, else the "
                        "pinned default; 'fit' times this machine now)")
    p.add_argument("--cg-rate", type=_cost_value, default=None, metavar="RATE|pinned|profile|fit",
                   help="multiply-adds per second of the CG model (cg, best): a number or where to take it from, "
                        "as --classical-constant")
    p.add_argument("--profile", default=None, metavar="PATH",
                   help="classical profile JSON (default: the saved one, else the pinned constants)")
    p.add_argument("--clamp", action="store_true", help="raise kappa < sqrt(12) to sqrt(12) (recorded) instead of failing")
    p.add_argument("--sweep", action="append", default=None, metavar="PARAM=START:STOP:POINTS",
                   help="sweep kappa, sparsity or n (log-spaced); repeat for several panels")
    p.add_argument("--plot", default="cost_sweep.png", metavar="PNG",
                   help="where --sweep writes its plot ('none' to skip); an existing file needs --force")
    p.add_argument("--force", action="store_true", help="overwrite an existing --plot file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_cost)
