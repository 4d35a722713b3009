"""`qnewton circuit solve|draw|export`: build, simulate, draw and export the HHL / QSVT circuits.

    qnewton circuit solve A.npy b.npy --method hhl|qsvt --backend statevector|shots|noisy-sherbrooke
                          [--device GPU] [--shots N] [--precision D] [--seed S] [--max-size 16] [--json]
                          [--ibm-mode batch|session]   (fake:NAME / ibm:NAME backends)
                          [--workers N | --scheduler ADDRESS] [--connect-timeout S]
    qnewton circuit draw A.npy b.npy --method hhl|qsvt|block-encoding [--decompose K]
    qnewton circuit export A.npy b.npy --method hhl|qsvt|block-encoding --qasm3 OUT
    qnewton circuit export --reference DIR      (regenerate circuits/: .qasm files + manifest.json)

A and b are .npy files (np.save), .npz archives (the only array, or the one named A / b; A may be
a scipy.sparse .npz), Matrix Market .mtx (A) or text (.txt whitespace- / .csv comma-separated),
read through `qnewton.matrixio`. Bad input (missing file, a directory, a pickle, a header declaring
more than the size limits, not square, not symmetric, not finite, singular, too large) prints one
line and exits 2. `export --qasm3 OUT` refuses to overwrite A or b, and an existing OUT unless --force.

`solve --workers N` (a local Dask cluster of N processes) or `--scheduler ADDRESS` (a running
Dask scheduler) runs the readout's circuits on Dask workers: the sign circuits of a counts
readout (shots, noisy-sherbrooke) as one batch split over the workers, or the statevector
circuit. The solution is the same as without them (every circuit has its own simulator seed).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from qnewton.errors import UsageError

METHODS = ("hhl", "qsvt")
DRAW_METHODS = ("hhl", "qsvt", "block-encoding")


#: File types `circuit` reads for A and b (see `qnewton.matrixio`).
INPUT_SUFFIXES = (".npy", ".npz", ".mtx", ".txt", ".csv")


def _load_array(path: str, name: str) -> Any:
    """A or b from a file, through `qnewton.matrixio` (headers and sizes checked before loading,
    never a pickle). .npy files are memory-mapped, so the shape is checked before anything is
    copied; a sparse .npz / .mtx matrix stays sparse until its size has been checked."""
    from qnewton.matrixio import read_array

    arr = read_array(path, field=name, suffixes=INPUT_SUFFIXES, name=name, mmap=True)
    dtype = arr.dtype
    if np.issubdtype(dtype, np.complexfloating):
        raise UsageError(f"{name}: {path} holds complex numbers; the circuits solve real symmetric systems")
    if dtype.kind not in "biuf":
        raise UsageError(f"{name}: {path} does not hold numbers")
    return arr


def _dense(arr: Any) -> np.ndarray:
    """A dense float64 copy of a (possibly sparse or memory-mapped) array whose size was checked."""
    import scipy.sparse as sp

    return np.asarray(arr.toarray() if sp.issparse(arr) else arr, dtype=np.float64)


def _load_system(args: argparse.Namespace, max_size: int) -> tuple[np.ndarray, np.ndarray]:
    from qnewton.quantum.block_encoding import validate_symmetric
    from qnewton.quantum.spectrum import exact_bounds
    from qnewton.quantum.state_prep import validate_vector

    from qnewton.solvers.circuit import check_dense_operators, check_memory, estimate_qubits

    raw = _load_array(args.A, "A")
    if raw.ndim != 2 or raw.shape[0] != raw.shape[1] or raw.shape[0] == 0:
        raise UsageError(f"A: must be a non-empty square matrix, got shape {raw.shape}")
    if raw.shape[0] > max_size:
        raise UsageError(f"A: size {raw.shape[0]} exceeds --max-size {max_size} for circuit simulation")
    method = getattr(args, "method", "hhl")
    method = method if method in METHODS else "qsvt"
    check_dense_operators(method, raw.shape[0], 1)
    A = validate_symmetric(_dense(raw))
    raw_b = _load_array(args.b, "b")
    if raw_b.size != A.shape[0]:  # before a (possibly huge) b is copied
        raise UsageError(f"b: length {raw_b.size} does not match the matrix size {A.shape[0]} (shape {tuple(raw_b.shape)})")
    b = validate_vector(_dense(raw_b), A.shape[0])
    bounds = exact_bounds(A)  # singular -> UsageError
    qubits = estimate_qubits(method, A.shape[0], bounds.kappa, bounds.signed)
    check_memory(qubits, getattr(args, "backend", "statevector"))
    check_dense_operators(method, A.shape[0], qubits)
    return A, b


def _solver_circuit(method: str, A: np.ndarray, b: np.ndarray) -> Any:
    if method == "block-encoding":
        from qnewton.quantum.block_encoding import block_encode

        return block_encode(A).circuit
    from qnewton.solvers.circuit import build_circuit

    return build_circuit(method, A, b).circuit


def _cmd_solve(args: argparse.Namespace) -> int:
    from qnewton.solvers.circuit import CircuitSolver

    if args.shots is not None and args.shots < 1:
        raise UsageError(f"--shots: must be a positive integer, got {args.shots}")
    A, b = _load_system(args, args.max_size)
    from qnewton.experiments.executor import check_workers
    from qnewton.quantum.dispatch import DISPATCHABLE

    check_workers(args.workers)
    distributed = (args.workers or 1) > 1 or args.scheduler is not None
    if distributed and args.backend not in DISPATCHABLE:
        raise UsageError(f"--workers/--scheduler: circuit batches run on Dask workers for the Aer backends "
                         f"({', '.join(DISPATCHABLE)}), not {args.backend!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        solver = CircuitSolver(
            args.method, args.backend, device=args.device, shots=args.shots or 4096,
            max_size=args.max_size, seed=args.seed, estimate_resources=not args.no_resources,
            precision=args.precision, runtime_mode=args.ibm_mode,
        )
    for w in caught:
        print(f"qnewton circuit: warning: {w.message}", file=sys.stderr)
    res = _solve_on_pool(solver, A, b, args)
    info = res.info
    if info["details"].get("clock_capped"):
        print(
            f"qnewton circuit: warning: HHL clock capped at {info['details']['clock_qubits']} qubits for kappa "
            f"{info['kappa']:.3g}; the solution's norm is unreliable (see relative_error), try --method qsvt",
            file=sys.stderr,
        )
    out = {
        "method": args.method,
        "backend": args.backend,
        "device": info.get("device"),
        "fidelity": info["fidelity_vs_classical"],
        "relative_error": info["relative_error_vs_classical"],
        "solution": res.x.tolist(),
        "classical_solution": np.linalg.solve(A, b).tolist(),
        "success_probability": info["post_selection_rate"],
        "qubits": info["qubits"],
        "shots": info["shots"],
        "ecr_count": info.get("ecr_count"),
        "depth": info.get("depth"),
        "duration_seconds": info.get("duration_seconds_per_shot_modeled"),
        "duration_note": "MODELED: one shot of the transpiled circuit on ibm_sherbrooke (estimate_duration)",
        "estimated_device_seconds": info.get("estimated_device_seconds_modeled"),
        "shots_modeled": info.get("shots_modeled"),
        "estimated_device_seconds_note": (
            "MODELED: shots_modeled x (duration + 250 us repetition delay); with exact statevector "
            "readout shots_modeled = shots per circuit x N' (the counts readout a device would need)"
        ),
        "measured_seconds": {
            "build": info["build_seconds_measured"],
            "transpile": info.get("transpile_seconds_measured"),
            "simulate": info["simulate_seconds_measured"],
            "total": res.measured_seconds,
        },
        "details": info["details"],
    }
    if "device_fallback" in info:
        out["device_fallback"] = info["device_fallback"]
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"method {args.method}  backend {args.backend}  device {out['device']}  qubits {out['qubits']}")
    print(f"solution          {np.array2string(res.x, precision=6)}")
    print(f"numpy solution    {np.array2string(np.asarray(out['classical_solution']), precision=6)}")
    print(f"fidelity {out['fidelity']:.6f}  relative error {out['relative_error']:.3e}  success probability {out['success_probability']:.4f}  shots {out['shots']}")
    if out["ecr_count"] is not None:
        print(f"ibm_sherbrooke: ECR {out['ecr_count']}  depth {out['depth']}  duration/shot {out['duration_seconds']:.3e} s (modeled)"
              f"  job {out['estimated_device_seconds']:.3e} s (modeled)")
    m = out["measured_seconds"]
    print(f"measured: build {m['build']:.3f} s  transpile {m['transpile'] or 0:.3f} s  simulate {m['simulate']:.3f} s")
    return 0


def _solve_on_pool(solver: Any, A: np.ndarray, b: np.ndarray, args: argparse.Namespace) -> Any:
    """solver.solve(A, b), its circuit batches on the Dask workers of --workers / --scheduler."""
    from qnewton.experiments.executor import open_pool

    log = lambda line: print(f"qnewton circuit: {line}", file=sys.stderr)  # noqa: E731
    with open_pool(args.workers, args.scheduler, connect_timeout=args.connect_timeout, log=log) as pool:
        solver.pool = pool
        try:
            return solver.solve(A, b)
        finally:
            solver.pool = None


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None


def _cmd_draw(args: argparse.Namespace) -> int:
    from qnewton.quantum.export import draw_text

    A, b = _load_system(args, args.max_size)
    print(draw_text(_solver_circuit(args.method, A, b), decompose=args.decompose))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    if args.reference and (args.A or args.b or args.qasm3):
        raise UsageError("export: give either A.npy b.npy --qasm3 OUT or --reference DIR, not both")
    if args.reference:
        from qnewton.quantum.reference import write_reference_circuits

        ref = Path(args.reference).expanduser()
        if (ref / "manifest.json").exists() and not args.force:
            # the output rule for a folder of outputs: an earlier export is replaced only with --force
            raise UsageError(f"--reference: {ref} already holds reference circuits (pass --force to regenerate them)")
        manifest = write_reference_circuits(args.reference)
        for name, entry in manifest["circuits"].items():
            fid = entry.get("fidelity")
            print(f"{args.reference}/{entry['file']}" + (f"  fidelity {fid:.6f}" if fid is not None else ""))
        return 0
    if not (args.A and args.b and args.qasm3):
        raise UsageError("export: give A.npy b.npy --qasm3 OUT, or --reference DIR")
    from qnewton.quantum.export import to_qasm3

    from qnewton.files import check_output, write_text_atomic

    # checked before the circuit is built: never one of the inputs, an existing file only with --force
    out = check_output(args.qasm3, force=args.force, inputs=(args.A, args.b), field="--qasm3")
    A, b = _load_system(args, args.max_size)
    text = to_qasm3(_solver_circuit(args.method, A, b))
    write_text_atomic(out, text, field="--qasm3")
    print(f"wrote {out} ({len(text)} characters, OpenQASM 3, basis u/cx)")
    return 0


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def register(subparsers: Any) -> None:
    """Add `circuit solve|draw|export` to the `qnewton` parser."""
    p = subparsers.add_parser("circuit", help="build, simulate, draw and export HHL / QSVT circuits")
    sub = p.add_subparsers(dest="circuit_command", metavar="SUBCOMMAND", parser_class=type(p))

    def common(q: argparse.ArgumentParser, methods: tuple[str, ...], optional_files: bool = False) -> None:
        """The A, b files and the options every subcommand shares."""
        nargs = "?" if optional_files else None
        q.add_argument("A", nargs=nargs, help="matrix file (.npy, .npz, .mtx, .txt or .csv): real symmetric N x N")
        q.add_argument("b", nargs=nargs, help="right-hand side file (.npy, .npz, .txt or .csv), length N")
        q.add_argument("--method", choices=methods, default="hhl")
        q.add_argument("--max-size", type=_positive_int, default=16, help="largest N simulated (default 16)")

    s = sub.add_parser("solve", help="solve A x = b with a simulated circuit")
    common(s, METHODS)
    s.add_argument("--backend", default="statevector", help="statevector | shots | noisy-sherbrooke | fake:NAME | ibm:NAME")
    s.add_argument("--device", default="CPU", type=str.upper, choices=("CPU", "GPU"))
    s.add_argument("--shots", type=_positive_int, default=None, help="shots per circuit (default 4096; not used by exact statevector readout)")
    s.add_argument("--precision", type=float, default=None,
                   help="target standard deviation of the measured probabilities: tops the basis circuit up to 1/(precision^2 p) shots")
    s.add_argument("--ibm-mode", choices=("batch", "session"), default="batch",
                   help="fake:/ibm: backends: submit through a runtime Batch (default) or Session")
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--no-resources", action="store_true", help="skip transpiling to ibm_sherbrooke")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.add_argument("--workers", type=int, default=None,
                   help="run the readout's circuit batch on a local Dask cluster of N worker processes (1 = here)")
    s.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the readout's circuit batch on the workers of a running Dask scheduler (tcp://HOST:PORT)")
    s.add_argument("--connect-timeout", type=_seconds, default=10.0, metavar="SECONDS",
                   help="seconds to wait for --scheduler and its first worker (default 10)")
    s.set_defaults(func=_cmd_solve)

    d = sub.add_parser("draw", help="print a text drawing of the circuit")
    common(d, DRAW_METHODS)
    d.add_argument("--decompose", type=int, default=0, help="expand definitions this many levels")
    d.set_defaults(func=_cmd_draw)

    e = sub.add_parser("export", help="write the circuit as OpenQASM 3")
    common(e, DRAW_METHODS, optional_files=True)
    e.add_argument("--qasm3", metavar="OUT", help="output .qasm file (never A or b; an existing file needs --force)")
    e.add_argument("--force", action="store_true", help="overwrite an existing --qasm3 file or --reference folder's circuits")
    e.add_argument("--reference", metavar="DIR", help="regenerate the reference circuits and manifest into DIR (a DIR that already has them needs --force)")
    e.set_defaults(func=_cmd_export)
