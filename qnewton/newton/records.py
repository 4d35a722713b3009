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
