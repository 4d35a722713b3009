"""Benchmark the calibrated per-query time model: fit cost, lookup cost, extrapolation accuracy.

Prints, for a device profile (default ibm_sherbrooke) and sparsity d:
  * MEASURED wall-clock seconds to fit the gate-count model (transpiles at the fit sizes) and
    the MEASURED cost of one cached `seconds_per_query` call;
  * MODELED per-query seconds, two-qubit gate count and log fidelity for a range of N, for the
    default growth model ("fixed-4") and the free fit ("fitted");
  * a hold-out check: fit on all sizes but the largest, predict the largest, compare with the
    transpiled value.

    .venv/bin/python benchmarks/bench_calibration.py [--profile ibm_sherbrooke] [--sparsity 10]
"""

from __future__ import annotations

import argparse
import platform
import time

from qnewton.calibrate.device_query_time import DEFAULT_FIT_SIZES, CalibratedQueryTimeModel
from qnewton.calibrate.profile_files import load_profile
from qnewton.calibrate.query_circuits import transpile_query


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="ibm_sherbrooke")
    ap.add_argument("--sparsity", type=int, default=10)
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256, 1024, 10_000, 100_000])
    args = ap.parse_args()
    profile = load_profile(args.profile)
    d = args.sparsity
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, profile {profile.name}, d = {d}")

    models = {}
    for growth in ("fixed-4", "fitted"):
        m = CalibratedQueryTimeModel(profile, growth=growth)
        t0 = time.perf_counter()
        fit = m.fit(d)
        models[growth] = m
        print(
            f"fit [{growth}] MEASURED {time.perf_counter() - t0:.2f} s (sizes {DEFAULT_FIT_SIZES}; "
            f"transpiles cached across models), ECR growth per qubit {fit.growth('ecr'):.3f}, serialization {fit.serialization:.3f}"
        )
    m = models["fixed-4"]
    m.seconds_per_query(10_000, d)
    t0 = time.perf_counter()
    calls = 20_000
    for _ in range(calls):
        m.seconds_per_query(10_000, d)
    print(f"cached seconds_per_query: MEASURED {(time.perf_counter() - t0) / calls * 1e6:.2f} us per call")

    print(f"{'N':>8} {'source':>12} {'qubits':>6} {'ECR':>10} {'t_query fixed-4 [s]':>20} {'t_query fitted [s]':>19} {'log F_query':>12}")
    for n in args.sizes:
        e = m.estimate(n, d)
        f = models["fitted"].estimate(n, d)
        print(
            f"{n:>8} {e.source:>12} {e.qubits:>6} {e.two_qubit_gates:>10.4g} {e.duration_seconds:>20.4g} "
            f"{f.duration_seconds:>19.4g} {e.log_fidelity:>12.4g}"
        )

    sizes = tuple(DEFAULT_FIT_SIZES)
    hold = CalibratedQueryTimeModel(profile, fit_sizes=sizes[:-1])
    pred = hold.estimate(sizes[-1], d)
    actual = transpile_query(profile, sizes[-1], d)
    ecr = profile.two_qubit_gates()[0]
    print(
        f"hold-out N'={sizes[-1]} from {sizes[:-1]}: predicted {pred.two_qubit_gates:.4g} {ecr} / {pred.duration_seconds:.4g} s, "
        f"transpiled {actual.gate_counts.get(ecr, 0)} {ecr} / {actual.duration_seconds:.4g} s "
        f"(ratio {pred.duration_seconds / actual.duration_seconds:.3f})"
    )


if __name__ == "__main__":
    main()
