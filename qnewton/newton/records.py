"""The ledger record of one inversion, shared by the numpy and the device paths of the Newton step."""

from __future__ import annotations

from typing import Any

from qnewton.jsonutil import json_ready


def decision_record(*, n: int, sparsity: int, decision: Any, kappa_true: float | None, solved_unpruned: bool,
                    classical_on_unpruned: bool, result: Any, fix: dict[str, Any] | None) -> dict[str, Any]:
    """The fields every inversion writes to the ledger (docs/training.md, "Output"): size and
    sparsity, the kappa estimate and the exact kappa of the matrix that was solved ("R" unpruned,
    "P" pruned), the MODELED prices of both solvers and what the classical one was priced on, the
    decision, the solver's MEASURED seconds and MODELED quantum seconds, and the indefinite fix."""
    return {
        "n": int(n),
        "sparsity": int(sparsity),
        "kappa_estimate": json_ready(decision.kappa),
        "log_kappa_estimate": json_ready(decision.log_kappa),
        "kappa_method": decision.kappa_method,
        "kappa_exact": None if kappa_true is None else json_ready(kappa_true),
        "kappa_exact_of": "R" if solved_unpruned else "P",
        "quantum_seconds_model": json_ready(decision.quantum_seconds),
        "classical_seconds_model": json_ready(decision.classical_seconds),
        "classical_priced_on": "R" if classical_on_unpruned else "P",
        "expected_queries": json_ready(decision.expected_queries),
        "decision": decision.solver,
        "reason": decision.reason,
        "solver": result.method,
        "solve_info": json_ready(result.info, max_array=64, fallback_str=True),
        "solve_measured_seconds": float(result.measured_seconds),
        "modeled_quantum_seconds": float(result.modeled_quantum_seconds),
        "indefinite_fix": json_ready(fix),
    }


def merge_fixes(fix_r: dict[str, Any] | None, fix_p: dict[str, Any] | None, scale: float = 1.0) -> dict[str, Any]:
    """The ledger's `indefinite_fix` of one inversion from the fixes of R and of the pruned P:
    method, mu (R), mu_pruned (P), attempts (both), and for damping its start rule and the
    lambda_min estimates (R's, P's) that set mu. scale: the power of two the matrices were divided
    by (the device path works at unit scale), multiplied back into mu and the estimates."""
    first = fix_r or fix_p or {}
    start = next((f["start"] for f in (fix_r, fix_p) if f is not None and f.get("start") is not None), None)

    def scaled(value: Any) -> Any:
        return None if value is None else value * scale

    def estimate(fix: dict[str, Any] | None) -> Any:
        est = None if fix is None else fix.get("lambda_min_estimate")
        if est is None:
            return None
        return {k: (v * scale if k in ("theta", "residual", "lower") else v) for k, v in est.items()}

    out = {
        "method": first["method"],
        "mu": None if fix_r is None else scaled(fix_r["mu"]),
        "mu_pruned": None if fix_p is None else scaled(fix_p["mu"]),
        "attempts": (0 if fix_r is None else fix_r["attempts"]) + (0 if fix_p is None else fix_p["attempts"]),
    }
    if start is not None:
        out["start"] = start
        out["lambda_min_estimate"] = estimate(fix_r)
        out["lambda_min_estimate_pruned"] = estimate(fix_p)
    return out
