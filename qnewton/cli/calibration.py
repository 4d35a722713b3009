"""`qnewton calibration list|show NAME|export`: inspect and create calibration profiles.

    qnewton calibration list
    qnewton calibration show ibm_sherbrooke [--n 16 --sparsity 10] [--json]
    qnewton calibration export --backend fake_sherbrooke --out calibrations/ibm_sherbrooke.json
    qnewton calibration export --backend ibm:ibm_brisbane --out my_brisbane.json   (needs an account)

`export` validates the profile and writes it atomically (temporary file + rename); without
`--out` it prints the JSON to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from qnewton.cli.common import check_count, check_profile_output
from qnewton.errors import UsageError


def register(subparsers: Any) -> None:
    """Add `calibration list|show|export` to the `qnewton` parser."""
    parser = subparsers.add_parser(
        "calibration",
        help="list, show and export device calibration profiles (calibrations/*.json)",
        description="Calibration profiles: device snapshots (per-gate durations and errors) and hypothetical gate times.",
    )
    sub = parser.add_subparsers(dest="calibration_command", metavar="ACTION", parser_class=type(parser))

    p_list = sub.add_parser("list", help="list the profiles on the search path ($QNEWTON_CALIBRATIONS, then calibrations/)")
    p_list.set_defaults(func=cmd_list)

    p_show = sub.add_parser("show", help="summarize one profile (name or path)")
    p_show.add_argument("name", help="profile name (e.g. ibm_sherbrooke, attosecond) or path to a .json file")
    p_show.add_argument("--json", action="store_true", help="print the whole profile as JSON")
    p_show.add_argument("--n", type=int, default=None, help="also estimate the per-query time for an N x N matrix")
    p_show.add_argument("--sparsity", type=int, default=10, help="oracle sparsity d for --n (default 10)")
    p_show.add_argument("--kappa", type=float, default=None,
                        help="with --n on a device profile: fidelity of one solver run with the expected query count at this kappa")
    p_show.add_argument("--epsilon", type=float, default=0.01, help="solver tolerance for --kappa (default 0.01)")
    p_show.add_argument("--alpha", type=float, default=None, help="subnormalization for --kappa (default d)")
    p_show.set_defaults(func=cmd_show)

    p_exp = sub.add_parser("export", help="write a profile from a qiskit-ibm-runtime fake backend or a live IBM backend")
    p_exp.add_argument(
        "--backend", required=True,
        help="fake_sherbrooke (any qiskit-ibm-runtime fake backend, also fake:NAME) or ibm:NAME (live, needs an account)",
    )
    p_exp.add_argument("--out", default=None, help="output file (atomic write); default: print to stdout")
    p_exp.add_argument("--name", default=None, help="profile name (default: the device's name, e.g. ibm_sherbrooke)")
    p_exp.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p_exp.set_defaults(func=cmd_export)


def cmd_list(args: argparse.Namespace) -> int:
    """Print one line per valid profile on the search path. A file that cannot be read or is not a
    valid profile gets one warning line on stderr naming it, and the list goes on."""
    from qnewton.calibrate.profile_files import list_profiles, load_profile

    rows = []
    skipped = 0
    for name, path in list_profiles():
        try:
            p = load_profile(path)
        except UsageError as exc:
            skipped += 1
            print(f"qnewton calibration: warning: skipped {path}: {_without_prefix(str(exc), path)}", file=sys.stderr)
            continue
        if p.kind == "hypothetical":
            detail = f"gate time {p.gate_time:.3g} s"
        elif p.fault_tolerant is not None:
            detail = f"{p.fault_tolerant.qubit_model}, {p.fault_tolerant.qec_scheme}"
        else:
            detail = f"{p.num_qubits} qubits, snapshot {p.snapshot_date[:10] if p.snapshot_date else '?'}"
        rows.append((name, p.kind, detail, p.label))
    if not rows:
        print("no valid calibration profiles found" if skipped else "no calibration profiles found")
        return 0
    w = max(len(r[0]) for r in rows)
    for name, kind, detail, label in rows:
        print(f"{name:<{w}}  {kind:<12}  {detail:<32}  {label}")
    return 0


def _without_prefix(message: str, path: Any) -> str:
    """The reason of a profile error without the file name the warning line already gives."""
    text = message
    for lead in ("calibration: ", "calibration "):
        if text.startswith(lead):
            text = text[len(lead):]
            break
    for sep in (": ", " "):
        if text.startswith(f"{path}{sep}"):
            return text[len(str(path)) + len(sep):]
    return message


def cmd_show(args: argparse.Namespace) -> int:
    """Summarize a profile; with --n the MODELED per-query time, with --kappa one run's fidelity."""
    from qnewton.calibrate import query_time_model
    from qnewton.calibrate.profile_files import load_profile

    for name in ("n", "sparsity"):
        check_count(name, getattr(args, name))
    if args.kappa is not None and args.n is None:
        raise UsageError("--kappa: needs --n (the matrix size whose query time is priced)")
    if args.kappa is not None and not math.isfinite(args.kappa):
        raise UsageError(f"--kappa: must be a finite number, got {args.kappa}")
    if args.kappa is not None:
        from qnewton.costs.quantum import expected_queries

        alpha = float(args.alpha) if args.alpha is not None else float(args.sparsity)
        expected_queries(args.kappa, args.epsilon, alpha)  # validates kappa, epsilon, alpha up front
    p = load_profile(args.name)
    if args.json:
        print(json.dumps(p.raw, indent=1))
        return 0
    print(f"name:          {p.name}")
    print(f"kind:          {p.kind}")
    print(f"label:         {p.label}")
    print(f"source:        {p.source}")
    print(f"file:          {p.path}")
    if p.snapshot_date:
        print(f"snapshot:      {p.snapshot_date}")
    if p.kind == "hypothetical":
        print(f"gate time:     {p.gate_time:.6g} s  (one block-encoding query = one gate time, paper Sec. IV-C)")
    elif p.fault_tolerant is not None:
        ft = p.fault_tolerant
        print(f"hardware:      {ft.qubit_model}, {ft.qec_scheme}, error budget {ft.error_budget:g} per run (resource estimator)")
        print(f"logical model: {', '.join(f'{k}={v}' for k, v in ft.logical_model.to_dict().items())}")
        print(f"per-query time quoted at kappa = {ft.reference_kappa:g}, eps = {ft.reference_epsilon:g} (see docs/ft-cost.md)")
    else:
        print(f"qubits:        {p.num_qubits}, couplers: {len(p.coupling_map)}, basis: {', '.join(p.basis_gates)}")
        for attr, unit, scale in (("t1", "us", 1e6), ("t2", "us", 1e6), ("readout_error", "", 1.0), ("readout_duration", "us", 1e6)):
            v = p.median_qubit(attr)
            print(f"median {attr + ':':<17} {'n/a' if v is None else f'{v * scale:.6g} {unit}'}")
        print(f"rep delay:     {p.rep_delay * 1e6:.6g} us" if p.rep_delay is not None else "rep delay:     n/a")
        for g in sorted(p.gates):
            entries = p.gates[g]
            worst = max((e.error for e in entries if e.error is not None), default=None)
            print(
                f"gate {g:<6} on {len(entries):>3} qubit tuple(s): median duration {p.median_gate_duration(g) * 1e9:.6g} ns, "
                f"median error {p.median_gate_error(g):.4g}, worst error {'n/a' if worst is None else f'{worst:.4g}'}"
            )
    if args.n is not None:
        model = query_time_model(calibration=p)
        print(f"per-query time for N={args.n}, d={args.sparsity}: {model.seconds_per_query(args.n, args.sparsity):.6g} s [MODELED]")
        if hasattr(model, "estimate"):
            e = model.estimate(args.n, args.sparsity)
            print(
                f"  {e.source} query circuit: N'={e.padded_n}, {e.qubits} qubits, {e.two_qubit_gates:.4g} two-qubit gates, "
                f"fidelity per query {e.fidelity:.4g} (log {e.log_fidelity:.4g})"
            )
            if args.kappa is not None:
                from qnewton.costs.quantum import expected_queries

                alpha = float(args.alpha) if args.alpha is not None else float(args.sparsity)
                q = expected_queries(args.kappa, args.epsilon, alpha)
                rf = model.run_fidelity(args.n, args.sparsity, q)
                print(
                    f"  one solve at kappa={args.kappa:g}, eps={args.epsilon:g}, alpha={alpha:g}: {q:.4g} expected queries, "
                    f"{q * e.duration_seconds:.4g} s [MODELED], run fidelity 10^{rf.log_fidelity / 2.302585092994046:.4g}, "
                    f"about 10^{rf.log10_expected_repetitions:.4g} repetitions for one error-free run (no error correction)"
                )
        elif args.kappa is not None:
            print("  (--kappa: hypothetical profiles carry no error rates, so there is no fidelity to report)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export a profile from a fake or live backend to --out (atomic) or stdout, validated first."""
    from qnewton.calibrate.export import export_profile
    from qnewton.calibrate.profile_files import dumps_profile, write_profile
    from qnewton.calibrate.profile_schema import validate_profile

    if args.out is not None:  # checked before the backend is contacted, not after
        if not args.out.strip():
            raise UsageError("--out: empty path")
        check_profile_output(args.out, force=args.force, field="--out")
    data = export_profile(args.backend, name=args.name)
    if args.out:
        out = write_profile(data, args.out, overwrite=args.force, field="--out")
        print(f"wrote {out} ({data['name']}, {data['num_qubits']} qubits, snapshot {data['snapshot_date']})", file=sys.stderr)
    else:
        validate_profile(data, origin=f"export of {args.backend}")
        sys.stdout.write(dumps_profile(data))
    return 0
