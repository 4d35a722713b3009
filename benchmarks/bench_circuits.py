"""Benchmark the HHL and QSVT circuits: size, measured build/transpile/simulate seconds, ibm_sherbrooke cost.

For N = 2, 4, 8, 16 (random SPD, condition number --kappa) and each method this prints: qubits,
MEASURED wall-clock seconds to build the circuit, transpile it to FakeSherbrooke (optimization
level 1) and simulate it (Aer statevector, exact readout, on --device), the ECR count and depth of
the transpiled circuit, and its MODELED one-shot duration on ibm_sherbrooke (estimate_duration),
plus the fidelity against numpy.

    .venv/bin/python benchmarks/bench_circuits.py [--kappa 10] [--sizes 2 4 8 16] [--device CPU|GPU]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np

from qnewton.quantum.backends import make_executor
from qnewton.quantum.examples import random_spd
from qnewton.quantum.resources import circuit_resources
from qnewton.quantum.solver_circuit import fidelity, readout_from_statevector
from qnewton.solvers.circuit import build_circuit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kappa", type=float, default=10.0)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 8, 16])
    ap.add_argument("--methods", nargs="+", default=["hhl", "qsvt"], choices=["hhl", "qsvt"])
    ap.add_argument("--device", default="CPU")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ex = make_executor("statevector", device=args.device, seed=args.seed)
    for w in caught:
        print(f"# warning: {w.message}")
    import qiskit
    import qiskit_aer

    print(f"# qiskit {qiskit.__version__}, qiskit-aer {qiskit_aer.__version__}, simulate device {ex.device}, "
          f"{platform.processor() or platform.machine()}, kappa {args.kappa:g}")
    print("# seconds: build/transpile/simulate are MEASURED here; duration is MODELED (ibm_sherbrooke, one shot)")
    head = f"{'method':6} {'N':>3} {'qubits':>6} {'build_s':>8} {'transp_s':>8} {'sim_s':>8} {'ECR':>8} {'depth':>8} {'duration_s':>11} {'fidelity':>9} {'note'}"
    print(head)
    rng = np.random.default_rng(args.seed)
    systems = {n: (random_spd(rng, n, args.kappa), rng.standard_normal(n)) for n in args.sizes}
    for method in args.methods:
        for n in args.sizes:
            A, b = systems[n]
            t0 = time.perf_counter()
            sc = build_circuit(method, A, b)
            build_s = time.perf_counter() - t0
            res = circuit_resources(sc.measured())
            t0 = time.perf_counter()
            r = readout_from_statevector(sc, ex.statevector(sc.circuit))
            sim_s = time.perf_counter() - t0
            fid = fidelity(r.x, np.linalg.solve(A, b))
            d = sc.details
            note = f"clock={d['clock_qubits']}" if method == "hhl" else f"degree={d['degree']}"
            print(f"{method:6} {n:>3} {sc.num_qubits:>6} {build_s:>8.3f} {res.transpile_seconds:>8.3f} {sim_s:>8.3f} "
                  f"{res.ecr_count:>8} {res.depth:>8} {res.duration_seconds:>11.4e} {fid:>9.6f} {note}", flush=True)


if __name__ == "__main__":
    main()
