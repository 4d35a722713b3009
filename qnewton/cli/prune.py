"""`qnewton prune FILE --sparsity D --out OUT`: symmetric magnitude pruning to oracle sparsity d.

Paper Sec. IV-D: keep the largest entries, at most d per row, exactly symmetric
(`qnewton.analysis.pruning`). The output is checked before the work (never the input, an existing
file only with --force) and written atomically.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from qnewton.errors import UsageError
from qnewton.jsonutil import json_ready


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


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `prune` command."""
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
