"""`qnewton cost`, `qnewton kappa`, `qnewton prune`, `qnewton calibrate classical`.

cost:      both solvers' costs for one (N, kappa, d, eps) point or a sweep (paper Sec. II-E, IV-C,
           Fig. 5). Quantum numbers are MODELED (Jennings et al. query counts x per-query time);
           classical numbers are MODELED too, from a constant C or rate MEASURED on this machine.
kappa:     condition-number estimate of a matrix file (.npy, .npz, .mtx).
prune:     symmetric magnitude pruning of a matrix file to oracle sparsity d (paper Sec. IV-D).
calibrate: time the classical solver here and save the profile the scheduler reads.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from qnewton.errors import UsageError
from qnewton.jsonutil import json_ready

SWEEP_PARAMS = ("kappa", "sparsity", "n")


# ----------------------------------------------------------------------------- limits

#: Largest matrix size N that `cost` prices, for --n and --sweep n=... (and the largest sparsity):
#: 2^53 is the last integer a float64 holds exactly, and the cost models compute in float64.
MAX_N = 2**53


def _count_text(value: int) -> str:
    """An integer for a message: in full when short, else its magnitude (a 400-digit --n must not
    fill the terminal)."""
    text = str(value)
    return text if len(text) <= 20 else f"an integer of {len(text.lstrip('-'))} digits"


def _check_count(name: str, value: int | None) -> None:
    """--n / --sparsity: an integer in [1, MAX_N]; one line with the allowed range otherwise."""
    if value is not None and not 1 <= value <= MAX_N:
        raise UsageError(f"--{name}: must lie in [1, 2^53 = {MAX_N}], got {_count_text(value)}")


# ----------------------------------------------------------------------------- option handling


def _fmt(x: float) -> str:
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return f"{x:.4g}"




def _query_time(args: argparse.Namespace) -> Any:
    from qnewton.costs.query_time import GateTimeModel

    if args.calibration:
        from qnewton.costs.calibration import query_time_model  # imported lazily: loads Qiskit only for profiles

        return query_time_model(args.calibration)
    return GateTimeModel(1e-18 if args.gate_time is None else args.gate_time)


def _classical(args: argparse.Namespace) -> Any:
    from qnewton.costs.classical import LUCostModel, classical_cost_model

    if args.classical_constant is not None:
        lu = LUCostModel(args.classical_constant, source="--classical-constant")
        if args.classical == "lu":
            return lu
        base = classical_cost_model("cg", args.profile, epsilon=args.epsilon)
        if args.classical == "cg":
            return base
        from qnewton.costs.classical import BestClassicalCostModel

        return BestClassicalCostModel(lu, base)
    model = classical_cost_model(args.classical, args.profile, epsilon=args.epsilon)
    return model


def parse_sweep(text: str) -> tuple[str, np.ndarray]:
    """"kappa=10:1e5:20" -> ("kappa", 20 log-spaced values); sparsity and n are rounded to ints.

    START and STOP are finite with 0 < START < STOP; for n and sparsity 1 <= START and STOP <=
    MAX_N (2^53), so no value wraps around when it becomes an integer. POINTS lies in [2, 10000].
    """
    if "=" not in text:
        raise UsageError(f"--sweep: expected PARAM=START:STOP:POINTS, got {text!r}")
    name, _, spec = text.partition("=")
    name = name.strip().lower()
    if name not in SWEEP_PARAMS:
        raise UsageError(f"--sweep: parameter must be one of {', '.join(SWEEP_PARAMS)}, got {name!r}")
    parts = spec.split(":")
    if len(parts) != 3:
        raise UsageError(f"--sweep: expected {name}=START:STOP:POINTS, got {text!r}")
    try:
        start, stop, points = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise UsageError(f"--sweep: START and STOP must be numbers and POINTS an integer, got {spec[:80]!r}") from None
    if not (math.isfinite(start) and math.isfinite(stop) and 0 < start < stop):
        raise UsageError(f"--sweep: need finite 0 < START < STOP, got {start:g}:{stop:g}")
    if name in ("sparsity", "n") and not (start >= 1 and stop <= MAX_N):
        raise UsageError(f"--sweep {name}: START and STOP must lie in [1, 2^53 = {MAX_N}], got {start:g}:{stop:g}")
    if not 2 <= points <= 10000:
        raise UsageError(f"--sweep: POINTS must lie in [2, 10000], got {_count_text(points)}")
    values = np.geomspace(start, stop, points)
    if name in ("sparsity", "n"):
        values = np.unique(np.clip(np.round(values), 1, MAX_N).astype(np.int64)).astype(np.float64)
    return name, values


def crossovers(xs: np.ndarray, quantum: np.ndarray, classical: np.ndarray) -> list[dict[str, Any]]:
    """Points where the cheaper solver changes, log-interpolated between sweep points."""
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(quantum) - np.log(classical)
    for i in range(len(xs) - 1):
        a, b = r[i], r[i + 1]
        if not (np.isfinite(a) or np.isfinite(b)):
            continue
        if (a <= 0) != (b <= 0):
            if np.isfinite(a) and np.isfinite(b) and a != b:
                t = a / (a - b)
                x = float(math.exp(math.log(xs[i]) + t * (math.log(xs[i + 1]) - math.log(xs[i]))))
            else:
                x = float(xs[i + 1])
            out.append({"x": x, "between": [float(xs[i]), float(xs[i + 1])], "to": "classical" if b > 0 else "quantum"})
    return out


# ----------------------------------------------------------------------------- cost


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
    return {
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
    _check_count("n", args.n)
    _check_count("sparsity", args.sparsity)
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
    classical_model = _classical(args)
    source = str(getattr(classical_model, "source", ""))

    if not sweeps:
        row = _point(args, quantum_model, classical_model, int(args.n), int(args.sparsity), float(args.kappa))
        row["classical_source"] = source
        if args.json:
            print(json.dumps(json_ready(row)))
            return 0
        print(f"N = {row['n']}, d = {row['sparsity']}, kappa = {_fmt(row['kappa'])}, eps = {row['epsilon']:g}, alpha = {_fmt(row['alpha'])}")
        print(f"  Q* (Jennings et al. Thm. 1)          {_fmt(row['query_count'])}")
        print(f"  expected queries Q*/{row['success_probability']:.5f}      {_fmt(row['expected_queries'])}")
        print(f"  state-preparation queries            {_fmt(row['state_preparation_queries'])}")
        print(f"  logical qubits                       {row['logical_qubits']} (a = {row['ancillas']} + 6 + ceil(log2 N))")
        print(f"  seconds per query                    {_fmt(row['seconds_per_query'])} ({row['query_time_model']})")
        print(f"  quantum seconds (MODELED)            {_fmt(row['quantum_seconds'])} (solve {_fmt(row['quantum_solve_seconds'])} + {row['readout']} readout {_fmt(row['readout_seconds'])})")
        print(f"  classical seconds (MODELED, {row['classical_model']})     {_fmt(row['classical_seconds'])}")
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
    plot_path = _plot(panels, args) if args.plot != "none" else None
    if args.json:
        print(json.dumps(json_ready({"sweeps": panels, "plot": str(plot_path) if plot_path else None, "classical_source": source})))
        return 0
    for panel in panels:
        name = panel["param"]
        fixed = ", ".join(f"{k} = {_fmt(float(getattr(args, k)))}" for k in SWEEP_PARAMS if k != name and getattr(args, k) is not None)
        print(f"sweep over {name} ({fixed}; eps = {args.epsilon:g}; quantum MODELED, classical MODELED from {panel['rows'][0]['classical_model']})")
        print(f"  {name:>10}  {'expected queries':>16}  {'quantum s':>11}  {'classical s':>11}  decision")
        for r in panel["rows"]:
            print(f"  {_fmt(float(r[name])):>10}  {_fmt(r['expected_queries']):>16}  {_fmt(r['quantum_seconds']):>11}  {_fmt(r['classical_seconds']):>11}  {r['decision']}")
        if panel["crossovers"]:
            for cx in panel["crossovers"]:
                print(f"  crossover at {name} ~ {_fmt(cx['x'])}: {cx['to']} cheaper above")
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
    from qnewton.costs.classical import default_profile_path
    from qnewton.jsonutil import load_json_file

    if args.classical_constant is not None and args.classical == "lu":
        return  # the profile is not read
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


def _plot(panels: list[dict[str, Any]], args: argparse.Namespace) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qnewton.files import write_atomic

    path = _check_plot(args)
    labels = {"kappa": "condition number $\\kappa$", "sparsity": "oracle sparsity $d$", "n": "matrix size $N$"}
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.0), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        name = panel["param"]
        xs = [float(r[name]) for r in panel["rows"]]
        ax.loglog(xs, [r["quantum_seconds"] for r in panel["rows"]], "o-", ms=3, label="quantum (modeled)")
        ax.loglog(xs, [r["classical_seconds"] for r in panel["rows"]], "s-", ms=3,
                  label=f"classical ({panel['rows'][0]['classical_model']})")
        for cx in panel["crossovers"]:
            ax.axvline(cx["x"], color="gray", ls="--", lw=1)
        ax.set_xlabel(labels[name])
        ax.set_ylabel("seconds")
        fixed = ", ".join(f"{k}={_fmt(float(getattr(args, k)))}" for k in SWEEP_PARAMS if k != name and getattr(args, k) is not None)
        ax.set_title(f"cost vs {name} ({fixed})", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        write_atomic(path, lambda fh: fig.savefig(fh, dpi=120, format="png"), field="--plot")
    finally:
        plt.close(fig)
    return path


# ----------------------------------------------------------------------------- kappa / prune


def run_kappa(args: argparse.Namespace) -> int:
    """`qnewton kappa FILE`: the estimate, its log, how it was obtained, and the MEASURED seconds."""
    from qnewton.analysis.kappa import estimate_kappa
    from qnewton.matrixio import load_matrix

    A = load_matrix(args.file, field="FILE")
    options: dict[str, Any] = {}
    if args.form != "auto":
        if args.method != "bound":
            raise UsageError("--form: only applies to --method bound")
        options["form"] = args.form
    t0 = time.perf_counter()
    try:
        est = estimate_kappa(A, args.method, **options)
    except MemoryError:
        raise UsageError(f"FILE: {args.file}: not enough memory to estimate kappa of an N = {A.shape[0]} matrix") from None
    except ValueError as exc:
        if "too big" not in str(exc) and "maximum" not in str(exc).lower():
            raise
        raise UsageError(f"FILE: {args.file}: an N = {A.shape[0]} matrix is too large for --method {args.method} (no dense copy fits in memory)") from None
    seconds = time.perf_counter() - t0
    if args.json:
        out = est.to_dict()
        out["measured_seconds"] = seconds
        out["n"] = int(A.shape[0])
        print(json.dumps(json_ready(out)))
        return 0
    print(f"kappa ({est.method}) = {_fmt(est.value)}   log kappa = {est.log_value:.6g}")
    print(f"  {est.reason}")
    print(f"  N = {A.shape[0]}, MEASURED {seconds:.4g} s")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    """`qnewton prune FILE`: symmetric pruning to d, written to --out atomically, with a summary."""
    import scipy.sparse as sp

    from qnewton.analysis.pruning import choose_sparsity, prune
    from qnewton.matrixio import check_matrix_output, load_matrix, save_matrix

    # the output is checked before the work: never the input itself, an existing file only with --force
    check_matrix_output(args.out, force=args.force, inputs=(args.file,), field="--out")
    A = load_matrix(args.file, field="FILE")
    if sp.issparse(A):
        try:
            A = A.toarray()
        except MemoryError:
            raise UsageError(f"FILE: {args.file}: not enough memory for the dense {A.shape[0]} x {A.shape[1]} matrix pruning needs") from None
    d = choose_sparsity(A, args.sparsity)
    t0 = time.perf_counter()
    P = prune(A, d, args.method, diagonal=args.diagonal)
    seconds = time.perf_counter() - t0
    out_path = save_matrix(P, args.out, field="--out")
    per_row = np.count_nonzero(P, axis=1)
    summary = {
        "n": int(A.shape[0]),
        "sparsity": int(d),
        "method": args.method,
        "diagonal": args.diagonal,
        "nonzeros_before": int(np.count_nonzero(A)),
        "nonzeros_after": int(np.count_nonzero(P)),
        "max_per_row": int(per_row.max()),
        "symmetric": bool(np.array_equal(P, P.T)),
        "kept_abs_mass_fraction": float(np.abs(P).sum() / np.abs(A).sum()) if np.any(A) else 1.0,
        "measured_seconds": seconds,
        "out": str(out_path),
    }
    if args.json:
        print(json.dumps(json_ready(summary)))
        return 0
    print(
        f"pruned N = {summary['n']} to d = {d} ({args.method}, diagonal {args.diagonal}): "
        f"{summary['nonzeros_before']} -> {summary['nonzeros_after']} nonzeros, max {summary['max_per_row']} per row, "
        f"symmetric: {summary['symmetric']}, |mass| kept {summary['kept_abs_mass_fraction']:.3f}, MEASURED {seconds:.3g} s"
    )
    print(f"written to {out_path}")
    return 0


# ----------------------------------------------------------------------------- calibrate


#: Largest N `calibrate classical` accepts: a dense N x N float64 test matrix (plus its factor)
#: must fit in memory; 20000 is 3.2 GB per copy.
MAX_CALIBRATION_SIZE = 20000


#: Most sizes one `calibrate classical` run times.
MAX_CALIBRATION_SIZES = 100


def parse_sizes(text: str) -> list[int]:
    """--sizes "250,500,1000": at least two distinct integers in [2, MAX_CALIBRATION_SIZE], at most
    MAX_CALIBRATION_SIZES of them. An empty or blank value is refused (it used to mean the
    defaults silently); leave the option out for the defaults."""
    items = [s.strip() for s in text.split(",")]
    if not text.strip() or not any(items):
        raise UsageError("--sizes: empty; give comma-separated sizes such as 250,500,1000 (leave the option out for the defaults)")
    if any(not s for s in items):
        raise UsageError(f"--sizes: empty entry in {text[:80]!r}; give comma-separated sizes such as 250,500,1000")
    if len(items) > MAX_CALIBRATION_SIZES:
        raise UsageError(f"--sizes: at most {MAX_CALIBRATION_SIZES} sizes, got {len(items)}")
    sizes = []
    for item in items:
        if not (item.isascii() and item.isdigit()) or len(item) > 9:
            raise UsageError(f"--sizes: each size must be an integer in [2, {MAX_CALIBRATION_SIZE}], got {item[:30]!r}")
        sizes.append(int(item))
    if min(sizes) < 2 or max(sizes) > MAX_CALIBRATION_SIZE:
        bad = min(sizes) if min(sizes) < 2 else max(sizes)
        raise UsageError(f"--sizes: each N must lie in [2, {MAX_CALIBRATION_SIZE}] (dense N x N test matrices), got {bad}")
    if len(set(sizes)) < 2:
        raise UsageError("--sizes: give at least two different sizes (C is fitted on N^3)")
    return sizes


def run_calibrate_classical(args: argparse.Namespace) -> int:
    """`qnewton calibrate classical`: MEASURE the solver, fit C, measure a CG rate, save the profile."""
    from qnewton.costs.classical import DEFAULT_SIZES, calibrate, default_profile_path, write_profile

    if args.sizes is not None:
        sizes = parse_sizes(args.sizes)
    else:
        sizes = list(DEFAULT_SIZES)
    if args.repeats < 1:
        raise UsageError(f"--repeats: must be >= 1, got {args.repeats}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads: must be >= 1, got {args.threads}")
    # before minutes of timing, not after. An explicit --out follows the output rule (--force to
    # replace a file); the default cache file is this command's own and is refreshed in place.
    from qnewton.cli.calibration import check_profile_output

    if args.out is not None:
        if not args.out.strip():
            raise UsageError("--out: empty path")
        out = check_profile_output(args.out, force=args.force, field="--out")
    else:
        out = check_profile_output(default_profile_path(), force=True, field="--out")
    profile = calibrate(sizes, repeats=args.repeats, threads=args.threads)
    path = write_profile(profile, out)
    lu, cg = profile["lu"], profile["cg"]
    if args.json:
        print(json.dumps(json_ready({"path": str(path), **profile})))
        return 0
    threads = "library default" if args.threads is None else args.threads
    print(f"classical calibration (MEASURED on this machine, BLAS threads: {threads})")
    print(f"  {'N':>6}  {'seconds':>10}  {'C N^3':>10}  {'rel. residual':>13}")
    for n, t, r in zip(lu["sizes"], lu["seconds"], lu["relative_residuals"]):
        print(f"  {n:>6}  {t:>10.4g}  {lu['constant'] * n**3:>10.4g}  {r:>+13.2%}")
    print(f"  C = {lu['constant']:.4g} s / N^3 (least squares on N^3), R^2 = {lu['r2']:.4f}")
    print(f"  CG: {cg['multiply_adds_per_second']:.4g} multiply-adds/s (CSR matvec, N = {cg['n']}, nnz = {cg['nnz']})")
    print(f"written to {path}")
    return 0


# ----------------------------------------------------------------------------- registration


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `cost`, `kappa`, `prune` and `calibrate` commands."""
    p = subparsers.add_parser(
        "cost",
        help="quantum vs classical cost of one inversion (Jennings et al. query counts; paper Fig. 5)",
        description=(
            "Price one Hessian inversion both ways: MODELED quantum seconds = per-query time x expected "
            "queries Q*/(0.39-0.201 eps) (+ readout), MODELED classical seconds = C N^3 (C measured on this "
            "machine) or the CG model. --sweep PARAM=START:STOP:POINTS (kappa, sparsity, n; log-spaced, "
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
                        help="seconds per query (default 1e-18, the paper's attosecond gate)")
    timing.add_argument("--calibration", default=None, metavar="NAME|PATH",
                        help="per-query time from a calibration profile (see `qnewton calibration list`)")
    p.add_argument("--readout", choices=("free", "swap-test"), default="free",
                   help="readout model: free (the paper) or swap-test (N overlaps, 1/delta^2 shots each)")
    p.add_argument("--readout-precision", type=float, default=0.01, metavar="DELTA", help="swap-test precision delta (default 0.01)")
    p.add_argument("--classical", choices=("lu", "cg", "best"), default="lu", help="classical model (default lu, as in the paper)")
    p.add_argument("--classical-constant", type=float, default=None, metavar="C", help="use R_c = C N^3 with this C")
    p.add_argument("--profile", default=None, metavar="PATH", help="classical profile JSON (default: the saved one, else a quick fit)")
    p.add_argument("--clamp", action="store_true", help="raise kappa < sqrt(12) to sqrt(12) (recorded) instead of failing")
    p.add_argument("--sweep", action="append", default=None, metavar="PARAM=START:STOP:POINTS",
                   help="sweep kappa, sparsity or n (log-spaced); repeat for several panels")
    p.add_argument("--plot", default="cost_sweep.png", metavar="PNG",
                   help="where --sweep writes its plot ('none' to skip); an existing file needs --force")
    p.add_argument("--force", action="store_true", help="overwrite an existing --plot file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_cost)

    k = subparsers.add_parser("kappa", help="condition-number estimate of a matrix file (.npy, .npz, .mtx)",
                              description="Estimate kappa of a square matrix file: the paper's determinant bound, Lanczos, or exact.")
    k.add_argument("file", help="matrix file: .npy, .npz (array or scipy.sparse) or .mtx")
    k.add_argument("--method", choices=("bound", "lanczos", "exact"), default="bound", help="estimator (default: bound, the paper's)")
    k.add_argument("--form", choices=("auto", "trace", "frobenius"), default="auto", help="bound form (default auto: trace if SPD)")
    k.add_argument("--json", action="store_true", help="print one JSON object (key 'kappa')")
    k.set_defaults(func=run_kappa)

    pr = subparsers.add_parser("prune", help="symmetric magnitude pruning of a matrix file to oracle sparsity d (paper IV-D)",
                               description="Prune a symmetric matrix file to at most d nonzeros per row, keeping it exactly symmetric.")
    pr.add_argument("file", help="symmetric matrix file: .npy, .npz or .mtx")
    pr.add_argument("--sparsity", required=True, metavar="D",
                    help="d: an integer, a fraction of N in (0, 1], or 'mass[:P[:max|mean|median|qXX]]' (paper's 50%% rule)")
    pr.add_argument("--out", required=True, help="output file (.npy, .npz or .mtx); never the input, an existing file needs --force")
    pr.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    pr.add_argument("--diagonal", choices=("keep", "compete"), default="keep",
                    help="keep: diagonal always kept, counts toward d (default); compete: the paper's literal rule")
    pr.add_argument("--method", choices=("symmetric", "row-topk"), default="symmetric",
                    help="symmetric (default) or row-topk (the reference code's non-symmetric rule, for comparison)")
    pr.add_argument("--json", action="store_true", help="print one JSON object")
    pr.set_defaults(func=run_prune)

    c = subparsers.add_parser("calibrate", help="measure this machine for the cost models",
                              description="Measure this machine and save a profile the scheduler reads.")
    csub = c.add_subparsers(dest="calibrate_target", metavar="TARGET", parser_class=type(c))
    cc = csub.add_parser("classical", help="time the classical solver, fit C in R_c = C N^3, measure a CG multiply-add rate",
                         description="Time ClassicalSolver at several N, fit C by least squares on N^3, measure a "
                                     "CSR multiply-add rate, and write the profile JSON atomically.")
    cc.add_argument("--sizes", default=None, help="comma-separated N (default 250,500,1000,1500,2000,3000)")
    cc.add_argument("--repeats", type=int, default=3, help="timings per N, best kept (default 3)")
    cc.add_argument("--out", default=None,
                    help="profile path (default $QNEWTON_CACHE/classical.json or ~/.cache/qnewton/classical.json, "
                         "refreshed in place); an existing --out file needs --force")
    cc.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    cc.add_argument("--threads", type=_threads, default=1, metavar="N|none",
                    help="BLAS threads while timing (default 1, as `qnewton train` solves; 'none' = the library's "
                         "default). C fitted under other threading misprices the trainer's solves.")
    cc.add_argument("--json", action="store_true", help="print one JSON object")
    cc.set_defaults(func=run_calibrate_classical)
    c.set_defaults(func=_calibrate_help(c))


def _threads(text: str) -> int | None:
    if text.strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'none', got {text!r}") from None


def _calibrate_help(parser: argparse.ArgumentParser):
    """`qnewton calibrate` without a TARGET: usage and one error line on stderr, exit 2 (like every
    command group without its subcommand)."""
    from qnewton.cli.calibration import missing_subcommand

    def run(args: argparse.Namespace) -> int:
        return missing_subcommand(parser, "TARGET", ("classical",))

    return run
