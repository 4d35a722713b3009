"""The paper's three Newton methods (Q-Newton Sec. V-A): classical-only, quantum-only and the
hybrid Q-Newton scheduler, each a `QNewton` optimizer whose `NewtonStep` differs only in the
scheduler policy.

`newton_step(ctx, policy)` builds the step from the run's options: the scheduler with the run's
cost models (quantum: Jennings et al. query count x the per-query time model; classical: the
model resolved once per run), the classical solver (Cholesky, LU fallback) and the quantum
solver (the emulated QLSA, or Qiskit circuits with --quantum-solver circuit), the treatment of
indefinite systems (--indefinite), the curvature kind (--curvature) and the readout (--readout, --readout-precision), which the
scheduler prices and the emulated QLSA draws as shot noise.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Mapping

import torch

from qnewton.curvature.base import Curvature
from qnewton.curvature.registry import make_curvature
from qnewton.enums import CurvatureKind, Policy, QuantumSolverKind
from qnewton.methods.registry import MethodContext, MethodInfo
from qnewton.newton.protocols import LinearSolver
from qnewton.newton.scheduler import Scheduler
from qnewton.newton.step import NewtonStep
from qnewton.optim.qnewton import QNewton

#: Largest Hessian block the circuit solver simulates (statevector of a few qubits).
CIRCUIT_MAX_BLOCK = 16


def build_quantum_solver(options: Mapping[str, Any]) -> LinearSolver:
    """The quantum linear solver of the run: the emulated QLSA, or the Qiskit circuit solver."""
    if options["quantum_solver"] == QuantumSolverKind.CIRCUIT:
        from qnewton.solvers.circuit import CircuitSolver  # lazy: imports Qiskit

        return CircuitSolver(method=options["circuit_method"], backend=options["circuit_backend"],
                             seed=options["seed"], max_size=CIRCUIT_MAX_BLOCK, estimate_resources=False)
    from qnewton.solvers.emulated import EmulatedQLSASolver

    return EmulatedQLSASolver(options["qlsa_epsilon"], seed=options["seed"], readout=options["readout"],
                              readout_precision=options.get("readout_precision", 0.01))


def build_scheduler(options: Mapping[str, Any], policy: Policy, classical_cost: Any, query_time: Any) -> Scheduler:
    """The scheduler of one Newton method with the run's cost models."""
    from qnewton.costs.quantum import QuantumCostModel

    quantum = QuantumCostModel(query_time=query_time, epsilon=options["qlsa_epsilon"], readout=options["readout"],
                               readout_precision=options.get("readout_precision", 0.01))
    return Scheduler(policy=policy, kappa_method=options["kappa_method"], quantum=quantum, classical=classical_cost)


def newton_step(ctx: MethodContext, policy: Policy) -> NewtonStep:
    """Algorithm 2's per-block pipeline for `policy` (regularize, prune, kappa, schedule, solve)."""
    from qnewton.solvers.classical import ClassicalSolver

    o = ctx.options
    return NewtonStep(
        build_scheduler(o, policy, ctx.classical_cost, ctx.query_time),
        ClassicalSolver(),
        build_quantum_solver(o),
        eps=o["eps"],
        sparsity=o["sparsity"],
        prune_classical=o["prune_classical"],
        exact_kappa_max_n=o["exact_kappa_max_n"],
        fallback_scale=float(o["sgd_lr"]) / float(o["newton_lr"]),
        indefinite=o.get("indefinite", "damping"),
        damping_start=o.get("damping_start", "lanczos"),
        factor_precision=o.get("factor_precision", "auto"),
    )


def build_curvature(kind: str, dtype: torch.dtype) -> Curvature:
    """The run's curvature kind (--curvature) in the run's dtype (--hessian-dtype): the exact Hessian
    (chunked for large blocks), or the GGN, empirical Fisher, Monte-Carlo Fisher (1 label per
    example, curvlinops' default seed) or K-FAC (type-2 factors, "expand") with their defaults."""
    if kind == CurvatureKind.HESSIAN:
        return make_curvature(kind, dtype=dtype, chunk_size="auto")
    return make_curvature(kind, dtype=dtype)


def _newton(ctx: MethodContext, policy: Policy) -> torch.optim.Optimizer:
    o = ctx.options
    dtype = torch.float64 if o["hessian_dtype"] == "float64" else torch.float32
    from qnewton.newton.torch_path import resolve_device

    return QNewton(ctx.model, newton_step(ctx, policy), lr=o["newton_lr"], blocks=ctx.blocks,
                   curvature=build_curvature(o.get("curvature", "hessian"), dtype),
                   warmup_steps=o["sgd_steps"], warmup_lr=o["sgd_lr"], momentum=o["momentum"],
                   noise_seed=ctx.noise_seed, device=resolve_device(o.get("device", "cpu")),
                   max_newton_block=int(o.get("max_newton_block") or 0))


_NEWTON_OPTIONS = ("sgd_steps", "sgd_lr", "newton_lr", "eps", "sparsity", "indefinite", "damping_start",
                   "factor_precision", "kappa_method", "blocks", "curvature", "device", "max_newton_block")

# noise ids 1-3: the ids these methods have always had, so their emulated-QLSA noise (and results) stay put
METHODS = [
    MethodInfo("classical", partial(_newton, policy=Policy.CLASSICAL_ONLY),
               "Newton with every block inverted classically (Cholesky, LU fallback)", needs_closure=True,
               uses_curvature=True, policy=Policy.CLASSICAL_ONLY, phase="newton", train_options=_NEWTON_OPTIONS,
               noise_id=1, in_all=True),
    MethodInfo("quantum", partial(_newton, policy=Policy.QUANTUM_ONLY),
               "Newton with every block sent to the quantum solver", needs_closure=True, uses_curvature=True,
               policy=Policy.QUANTUM_ONLY, phase="newton", train_options=_NEWTON_OPTIONS, noise_id=2, in_all=True),
    MethodInfo("qnewton", partial(_newton, policy=Policy.HYBRID),
               "Q-Newton: the scheduler sends each block to the cheaper solver", needs_closure=True,
               uses_curvature=True, policy=Policy.HYBRID, phase="newton", train_options=_NEWTON_OPTIONS, noise_id=3,
               in_all=True),
]
