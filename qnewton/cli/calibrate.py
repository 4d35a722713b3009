"""`qnewton calibrate classical`: measure the classical solver here and save the profile.

Times `ClassicalSolver` at several N, fits C of R_c = C N^3 by least squares on N^3, measures a
CSR multiply-add rate for the CG model (`qnewton.calibrate.classical_timing`) and writes the
profile atomically (`qnewton.calibrate.classical_profile`). Once saved, that profile is where
`qnewton cost`, the experiments and the trainer take C and the rate from. The output path is
checked before minutes of timing start.
"""

from __future__ import annotations

import argparse
import json

from qnewton.cli.common import check_profile_output
from qnewton.errors import UsageError
from qnewton.jsonutil import json_ready


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
    from qnewton.calibrate.classical_profile import default_profile_path, write_profile
    from qnewton.calibrate.classical_timing import DEFAULT_SIZES, calibrate_classical

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
    if args.out is not None:
        if not args.out.strip():
            raise UsageError("--out: empty path")
        out = check_profile_output(args.out, force=args.force, field="--out")
    else:
        out = check_profile_output(default_profile_path(), force=True, field="--out")
    profile = calibrate_classical(sizes, repeats=args.repeats, threads=args.threads)
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


def _threads(text: str) -> int | None:
    if text.strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'none', got {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `calibrate classical` (a command group: `qnewton calibrate` alone is a usage error)."""
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
