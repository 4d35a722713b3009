"""The ft-crossover experiment end to end at a tiny size: tables, plot, and the numbers in them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from qnewton.costs.classical import PINNED_LU_CONSTANT
from qnewton.errors import UsageError
from qnewton.experiments.config import load_config
from qnewton.experiments.runner import run_experiment

TINY = """
name = "ft-crossover"
seeds = 1
[params]
profiles = ["ft-surface-gate-ns-e3", "ft-floquet-maj-ns-e6"]
classical = ["lu", "cg"]
n_min = 16
n_max = 10000000
n_points = 5
kappa_points = 3
train_steps = 2
sgd_steps = 1
circuit_sizes = [2]
"""


def test_tiny_run_writes_tables_and_plot_with_consistent_numbers(tmp_path: Path) -> None:
    cfg_path = tmp_path / "ft.toml"
    cfg_path.write_text(TINY, encoding="utf-8")
    run_experiment(load_config(cfg_path), out=tmp_path / "out")
    folder = tmp_path / "out" / "ft-crossover"
    for name in ("curves", "crossovers", "per_query", "methods", "circuits"):
        assert (folder / f"{name}.csv").is_file() and (folder / f"{name}.md").is_file()
    assert (folder / "ft-crossover.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tables = json.loads((folder / "results.json").read_text())["tables"]

    curves = tables["curves"]["summary"]
    lu = {r["x"]: r["modeled_seconds_mean"] for r in curves if r["sweep"] == "n" and r["model"] == "lu"}
    for x, seconds in lu.items():
        assert seconds == pytest.approx(PINNED_LU_CONSTANT * x**3, rel=1e-9)
    quantum = [r for r in curves if r["solver"] == "quantum"]
    assert all(r["physical_qubits_mean"] > 1e4 and r["code_distance_mean"] >= 3 for r in quantum)
    # every crossover found lies between two grid points where the cheaper side changes
    for c in tables["crossovers"]["summary"]:
        x = c.get("crossover_x_mean")
        if x is None:
            continue
        q = {r["x"]: r["modeled_seconds_mean"] for r in curves
             if r["sweep"] == c["sweep"] and r["model"] == c["quantum_profile"]}
        k = {r["x"]: r["modeled_seconds_mean"] for r in curves
             if r["sweep"] == c["sweep"] and r["model"] == c["classical_model"]}
        below = max(v for v in q if v <= x)
        above = min(v for v in q if v >= x)
        assert (q[below] < k[below]) != (q[above] < k[above])
    # LU at N = 16 is far cheaper than any FT solve, at N = 1e7 far dearer: one crossover in N each
    assert sum(1 for c in tables["crossovers"]["summary"]
               if c["sweep"] == "n" and c["classical_model"] == "lu" and c.get("crossover_x_mean")) == 2

    for r in tables["per_query"]["summary"]:
        spq = r["modeled_seconds_per_query_mean"]
        assert r["log10_ratio_to_paper_gate_time_mean"] == pytest.approx(math.log10(spq / 1e-18), rel=1e-9)
        assert spq > 1e-3  # error-corrected queries: milliseconds, not attoseconds

    methods = {(r["profile"], r["method"]): r for r in tables["methods"]["summary"]}
    sizes = [int(s) for s in methods[("ft-floquet-maj-ns-e6", "classical-only")]["block_sizes"].split("/")]
    lu_step = methods[("ft-floquet-maj-ns-e6", "classical-only")]["modeled_inversion_seconds_per_step_mean"]
    assert lu_step == pytest.approx(PINNED_LU_CONSTANT * sum(n**3 for n in sizes), rel=1e-9)
    for profile in ("ft-surface-gate-ns-e3", "ft-floquet-maj-ns-e6"):
        q_only = methods[(profile, "quantum-only")]
        hybrid = methods[(profile, "q-newton")]
        assert q_only["modeled_inversion_seconds_per_step_mean"] > lu_step
        assert hybrid["modeled_inversion_seconds_per_step_mean"] <= lu_step * (1 + 1e-12)
        assert q_only["physical_qubits_mean"] > 1e4
    assert methods[("-", "sgd")]["modeled_inversion_seconds_per_step_mean"] == 0

    circuits = {(r["method"], r["source"]): r for r in tables["circuits"]["summary"]}
    assert {m for m, _ in circuits} == {"hhl", "qsvt", "jennings"}
    model = next(r for (m, _), r in circuits.items() if m == "jennings")
    qsvt = next(r for (m, _), r in circuits.items() if m == "qsvt")
    assert model["toffolis_mean"] > 0 and qsvt["rotations_mean"] > 0
    assert model["queries_mean"] > qsvt["queries_mean"]  # Jennings' bound against the circuit's polynomial degree


def test_shipped_config_and_bad_profile() -> None:
    cfg = load_config("ft-crossover", quick=True)
    assert cfg.params.train_steps == 3 and cfg.params.circuit_sizes == (2,)
    full = load_config("ft-crossover")
    assert full.params.train_steps == 20 and len(full.params.profiles) == 3
    from qnewton.experiments.catalog.ft_crossover import Params

    with pytest.raises(UsageError, match="profiles.*not fault-tolerant"):
        Params(profiles=("attosecond",))
