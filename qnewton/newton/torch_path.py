"""The Newton step's dense path in torch on a device (`NewtonStep(device=...)`, `--device cuda`).

Per block, as `qnewton.newton.step.NewtonStep.compute` (same formulas, same ledger record, same
stage attribution of the shared Cholesky factorization), with the N x N work in float64 torch on
the device: regularization R = (H + H^T)/2 + eps I, the definiteness test and treatment (damping
or saddle-free), the sparsity rule, the kappa bound (log det from the shared factor), the
classical solve (Cholesky solve, LU fallback) and the emulated QLSA's exact solve. What stays on
the CPU: the greedy pass of the symmetric pruning (sequential by nature; R is copied to the host
once, the numba pass picks the kept entries, and P is built on the device), the "exact" kappa
method (eigvalsh), the QLSA's output noise and readout (O(N), drawn from the solver's numpy
stream so that the noise is the same as on the numpy path), and solvers other than the built-in
classical and emulated ones (they get host copies). The Lanczos kappa method and the norm
estimate of the quantum cost run their matrix-vector products on the device.

Results agree with the numpy path to rounding (parallel reductions run in another order); the
test `tests/test_scale_device.py` compares one step of both on the CPU.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Sequence, TextIO

import numpy as np
import torch

from qnewton.analysis import torch_ops as T
from qnewton.analysis.scaling import binary_exponent
from qnewton.enums import SolverKind
from qnewton.errors import UsageError
from qnewton.jsonutil import json_ready
from qnewton.newton.protocols import SolveResult
from qnewton.newton.records import decision_record, merge_fixes

_WARNED: set[str] = set()


def resolve_device(name: str | None, *, stream: TextIO | None = None, prog: str = "qnewton train") -> torch.device | None:
    """The torch device for the Newton step's dense path: None for "cpu" (the numpy path),
    torch.device("cuda") when a CUDA GPU is usable; without one, one line on `stream` (stderr)
    saying so (once per process) and None, i.e. the CPU."""
    if name is None or str(name) == "cpu":
        return None
    if str(name) != "cuda" and not str(name).startswith("cuda:"):
        raise UsageError(f"device: must be cpu or cuda, got {name!r}")
    reason = None
    try:
        if not torch.cuda.is_available():
            reason = "torch finds no CUDA GPU" + (" (this torch build has no CUDA support)"
                                                 if torch.version.cuda is None else "")
        else:
            torch.empty(1, device=name)
    except (RuntimeError, AssertionError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if reason is not None:
        if name not in _WARNED:
            _WARNED.add(str(name))
            print(f"{prog}: warning: device {name}: no usable GPU ({reason}); running on the CPU",
                  file=stream or sys.stderr)
        return None
    return torch.device(name)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_cholesky(A: torch.Tensor) -> tuple[torch.Tensor | None, float]:
    t = time.perf_counter()
    L = T.cholesky_t(A)
    _sync(A.device)
    return L, time.perf_counter() - t


def _operator(A: torch.Tensor) -> Any:
    """A as a scipy LinearOperator whose products run on A's device."""
    from scipy.sparse.linalg import LinearOperator

    def matvec(v: np.ndarray) -> np.ndarray:
        out = A @ torch.as_tensor(np.ascontiguousarray(v, dtype=np.float64).reshape(-1), device=A.device)
        return out.cpu().numpy()

    n = A.shape[0]
    return LinearOperator((n, n), matvec=matvec, rmatvec=matvec, dtype=np.float64)


def _treat(step: Any, A: torch.Tensor, *, unpruned: bool) -> tuple[torch.Tensor, dict[str, Any] | None,
                                                                    torch.Tensor | None, float]:
    """(treated A, fix record, its Cholesky factor or None, seconds of that factorization): the
    test's factor when A is positive definite, the verifying factor of a Lanczos-started damping."""
    DAMPING_BETA, DAMPING_MAX_ATTEMPTS = step.damping_schedule

    if step.indefinite == "none":
        return A, None, None, 0.0
    L, seconds = _timed_cholesky(A)
    if L is not None:
        return A, None, L, seconds
    if unpruned and step.indefinite == "saddle-free":
        lam, V = torch.linalg.eigh(A)
        sf = (V * ((lam - step.eps).abs() + step.eps)) @ V.T
        sf = (sf + sf.T) * 0.5
        L2 = T.cholesky_t(sf)
        if L2 is not None:
            return sf, {"method": "saddle-free", "mu": None, "attempts": 2}, None, 0.0
        fixed, mu, attempts, _, _, _ = T.damp_t(sf, DAMPING_BETA, DAMPING_MAX_ATTEMPTS)
        return fixed, {"method": "saddle-free", "mu": mu, "attempts": attempts + 1}, None, 0.0
    start = getattr(step, "damping_start", "doubling")
    fixed, mu, attempts, L, estimate, seconds = T.damp_t(A, DAMPING_BETA, DAMPING_MAX_ATTEMPTS, start)
    fix = {"method": "damping", "mu": mu, "attempts": attempts, "start": start,
           "lambda_min_estimate": None if estimate is None else estimate.to_dict()}
    return fixed, fix, L, seconds


def _classical_solve(solver: Any, A: torch.Tensor, g: torch.Tensor, L: torch.Tensor | None) -> SolveResult:
    """The built-in classical solver's algorithm on the device: Cholesky (the shared factor when
    given), LU if that fails, least squares if LU meets a zero pivot."""
    start = time.perf_counter()
    info: dict[str, Any] = {}
    x = None
    if L is not None:
        x = torch.cholesky_solve(g.unsqueeze(1), L).squeeze(1)
        info.update(factorization="cholesky", shared_factor=True)
    elif getattr(solver, "try_cholesky", True):
        L2 = T.cholesky_t(A)
        if L2 is not None:
            x = torch.cholesky_solve(g.unsqueeze(1), L2).squeeze(1)
            info["factorization"] = "cholesky"
        else:
            info["fallback_reason"] = "Cholesky failed: matrix not positive definite"
    if x is None:
        LU, piv, code = torch.linalg.lu_factor_ex(A)
        if int(code) == 0 and bool((LU.diagonal() != 0).all()):
            x = torch.linalg.lu_solve(LU, piv, g.unsqueeze(1)).squeeze(1)
            info["factorization"] = "lu"
        else:
            info["fallback_reason"] = f"{info.get('fallback_reason', '')}; LU: exactly zero pivot".lstrip("; ")
            x = torch.linalg.lstsq(A, g.unsqueeze(1)).solution.squeeze(1)
            info["factorization"] = "lstsq"
    _sync(A.device)
    elapsed = time.perf_counter() - start
    bn = float(torch.linalg.vector_norm(g))
    res = float(torch.linalg.vector_norm(A @ x - g)) if bool(torch.isfinite(x).all()) else math.inf
    info["relative_residual"] = res / bn if bn > 0 else res
    info["n"] = int(A.shape[0])
    info["device"] = str(A.device)
    return SolveResult(x=x.cpu().numpy(), method=info["factorization"], kind="classical", measured_seconds=elapsed,
                       info=info)


def _quantum_solve(solver: Any, A: torch.Tensor, g: torch.Tensor, L: torch.Tensor | None, decision: Any) -> SolveResult:
    """The emulated QLSA: exact solve on the device (the shared factor when given), the output
    noise and readout from the solver's own numpy stream (`EmulatedQLSASolver.emulate_output`)."""
    start = time.perf_counter()
    info: dict[str, Any] = {"epsilon_q": getattr(solver, "epsilon_q", None), "device": str(A.device)}
    if L is None:
        L = T.cholesky_t(A)
    else:
        info["shared_factor"] = True
    if L is not None:
        x = torch.cholesky_solve(g.unsqueeze(1), L).squeeze(1)
        info["exact_method"] = "cholesky"
    else:
        x = torch.linalg.solve(A, g)
        info["exact_method"] = "lu"
    x_np = solver.emulate_output(x.cpu().numpy(), decision, info)
    info["modeled_seconds_source"] = "scheduler"
    info["modeled_readout_seconds"] = float(decision.readout_seconds)
    return SolveResult(x=x_np, method="emulated-qlsa", kind="quantum", measured_seconds=time.perf_counter() - start,
                       modeled_quantum_seconds=float(decision.quantum_seconds), info=info)


def compute_on_device(step: Any, hessians: list[Any], gradients: list[Any], *, device: torch.device,
                      noise_seed: Sequence[int] | None = None, names: list[str] | None = None,
                      release_inputs: bool = False, result_type: Any = None) -> Any:
    """`NewtonStep.compute` with the dense work on `device` (module docstring). hessians: torch
    tensors (on any device) or numpy arrays; gradients likewise. Returns a NewtonResult whose
    directions are float64 numpy vectors (`result_type`: the NewtonResult class, passed in by
    `qnewton.newton.step`, which imports this module)."""
    from qnewton.analysis.kappa import estimate_kappa, kappa_exact
    from qnewton.analysis.pruning import symmetric_prune
    from qnewton.newton.protocols import Reseedable

    stages = {"regularize_prune": 0.0, "kappa_estimate": 0.0, "decision": 0.0, "solve": 0.0}
    counts = {"quantum": 0, "classical": 0}
    modeled = 0.0
    directions: list[np.ndarray] = []
    records: list[dict[str, Any]] = []
    safeguards = 0
    fixes = 0
    emulated = hasattr(step.quantum_solver, "emulate_output")
    builtin_classical = getattr(step.classical_solver, "accepts_factorization", False) and \
        getattr(step.classical_solver, "name", "") == "classical"
    for index, (H, g) in enumerate(zip(hessians, gradients)):
        if release_inputs and isinstance(hessians, list):
            hessians[index] = None
        g_np = (g.detach().cpu().numpy() if isinstance(g, torch.Tensor) else np.asarray(g)).astype(np.float64).reshape(-1)
        _sync(device)
        t0 = time.perf_counter()
        R = T.regularize_t(torch.as_tensor(H).to(device=device), step.eps)
        H = None
        top = T.max_abs_t(R)
        shift = 0
        if top > 0 and not T.in_safe_range(top):  # work at unit scale (exact power of two), x scaled back
            shift = binary_exponent(top)
            R = torch.ldexp(R, torch.tensor(-shift, device=device))
        g_t = torch.as_tensor(g_np, device=device)
        R, fix_r, L_r, sec_r = _treat(step, R, unpruned=True)
        d = T.choose_sparsity_t(R, step.sparsity)
        pruned = d < R.shape[0]
        if pruned:
            P = torch.from_numpy(symmetric_prune(R.cpu().numpy(), d)).to(device)
            P, fix_p, L_p, sec_p = _treat(step, P, unpruned=False)
        else:
            P, fix_p, L_p, sec_p = R, None, L_r, 0.0
        _sync(device)
        t1 = time.perf_counter()
        unclaimed = {"R": sec_r if L_r is not None else 0.0, "P": sec_p if (pruned and L_p is not None) else 0.0}
        stages["regularize_prune"] += t1 - t0 - unclaimed["R"] - unclaimed["P"]
        classical_matrix = P if (step.prune_classical or not pruned) else R

        kappa_method = str(step.scheduler.kappa_method)
        tk = time.perf_counter()
        claimed = 0.0
        if kappa_method == "bound":
            if L_p is None and step.indefinite == "none":
                L_p, sec_np = _timed_cholesky(P)
                unclaimed["P" if pruned else "R"] = sec_np
                if not pruned:
                    L_r = L_p
            est = T.kappa_bound_t(P, L_p)
            key = "P" if pruned else "R"
            if L_p is not None:
                claimed, unclaimed[key] = unclaimed[key], 0.0
        elif kappa_method == "exact":
            est = kappa_exact(P.cpu().numpy(), **step.scheduler.kappa_options)
        else:
            est = estimate_kappa(_operator(P), "lanczos", **step.scheduler.kappa_options)
        tk1 = time.perf_counter()
        max_entry = T.max_abs_t(P)
        decision = step.scheduler.decide(_operator(P), g_np, sparsity=d, kappa_estimate=est, max_entry=max_entry)
        t3 = time.perf_counter()
        stages["kappa_estimate"] += (tk1 - tk) + claimed
        stages["decision"] += t3 - tk1
        if noise_seed is not None and isinstance(step.quantum_solver, Reseedable):
            step.quantum_solver.reseed([*noise_seed, index])
        t4 = time.perf_counter()
        if decision.solver == SolverKind.QUANTUM:
            solved = P
            if emulated:
                result = _quantum_solve(step.quantum_solver, P, g_t, L_p, decision)
            else:
                result = step.quantum_solver.solve(P.cpu().numpy(), g_np, decision)
            used = "P" if pruned else "R"
        else:
            solved = classical_matrix
            used = "P" if classical_matrix is P and pruned else "R"
            L_c = L_p if classical_matrix is P else L_r
            if builtin_classical:
                result = _classical_solve(step.classical_solver, classical_matrix, g_t, L_c)
            else:
                result = step.classical_solver.solve(classical_matrix.cpu().numpy(), g_np)
        t5 = time.perf_counter()
        if result.info.get("shared_factor"):
            t5 += unclaimed[used]
            unclaimed[used] = 0.0
        stages["regularize_prune"] += unclaimed["R"] + unclaimed["P"]
        stages["solve"] += t5 - t4
        kappa_true = T.exact_kappa_t(solved) if solved.shape[0] <= step.exact_kappa_max_n else None
        counts[decision.solver] += 1
        modeled += float(result.modeled_quantum_seconds)
        fix = None
        if fix_r is not None or fix_p is not None:
            fixes += 1
            fix = merge_fixes(fix_r, fix_p, 2.0 ** shift)
        x = np.asarray(result.x, dtype=np.float64).reshape(-1)
        if shift:
            x = np.ldexp(x, -shift)
        gx = float(g_np @ x) if np.all(np.isfinite(x)) else math.nan
        safeguard = None
        if not np.all(np.isfinite(x)):
            safeguard = "non-finite direction"
        elif not gx > 0:
            safeguard = f"not a descent direction (g.x = {gx:.3e} <= 0)"
        if safeguard is not None:
            safeguards += 1
            x = step.fallback_scale * g_np
        directions.append(x)
        records.append({
            "name": names[index] if names else str(index),
            **decision_record(n=P.shape[0], sparsity=d, decision=decision, kappa_true=kappa_true,
                              solved_unpruned=solved is R, classical_on_unpruned=classical_matrix is R,
                              result=result, fix=fix),
            "g_dot_x": json_ready(gx),
            "safeguard": safeguard,
            "device": str(device),
        })
        del R, P, L_r, L_p, solved, classical_matrix
    return result_type(directions, records, stages, modeled, counts, safeguards,
                        extra={"indefinite": step.indefinite, "indefinite_fixes": fixes, "device": str(device)},
                        indefinite_fixes=fixes)
