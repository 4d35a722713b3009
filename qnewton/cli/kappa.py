"""`qnewton kappa FILE`: condition-number estimate of a matrix file (.npy, .npz, .mtx).

The estimators are those of `qnewton.analysis.kappa`: the paper's determinant bound (Sec. IV-C),
Lanczos, or exact; the command prints the estimate, its log, how it was obtained and the MEASURED
seconds it took.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from qnewton.cli.common import fmt
from qnewton.enums import KappaMethod, choices
from qnewton.errors import UsageError
from qnewton.jsonutil import json_ready


def run_kappa(args: argparse.Namespace) -> int:
    """`qnewton kappa FILE`: the estimate, its log, how it was obtained, and the MEASURED seconds."""
    from qnewton.analysis.kappa import estimate_kappa
    from qnewton.matrixio import load_matrix

    A = load_matrix(args.file, field="FILE")
    options: dict[str, Any] = {}
    if args.form != "auto":
        if args.method != KappaMethod.BOUND:
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
    print(f"kappa ({est.method}) = {fmt(est.value)}   log kappa = {est.log_value:.6g}")
    print(f"  {est.reason}")
    print(f"  N = {A.shape[0]}, MEASURED {seconds:.4g} s")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `kappa` command."""
    k = subparsers.add_parser("kappa", help="condition-number estimate of a matrix file (.npy, .npz, .mtx)",
                              description="Estimate kappa of a square matrix file: the paper's determinant bound, Lanczos, or exact.")
    k.add_argument("file", help="matrix file: .npy, .npz (array or scipy.sparse) or .mtx")
    k.add_argument("--method", choices=choices(KappaMethod), default=KappaMethod.BOUND.value, help="estimator (default: bound, the paper's)")
    k.add_argument("--form", choices=("auto", "trace", "frobenius"), default="auto", help="bound form (default auto: trace if SPD)")
    k.add_argument("--json", action="store_true", help="print one JSON object (key 'kappa')")
    k.set_defaults(func=run_kappa)
