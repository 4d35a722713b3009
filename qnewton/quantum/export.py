"""OpenQASM 3 export and text drawing of solver circuits.

`qiskit.qasm3.dumps` cannot write our high-level instructions faithfully (StatePreparation's
definition exports as an empty gate; HHL's nested instructions are rejected as "non-unitary
subroutine calls"), so we first
lower the circuit to the portable basis {u, cx} (plus measure/barrier) with the transpiler, then
dump. The result loads back with `qiskit.qasm3.loads` (qiskit-qasm3-import) and simulates to the
same state up to global phase.
"""

from __future__ import annotations

from qiskit import QuantumCircuit, transpile

EXPORT_BASIS = ["u", "cx", "measure"]


def lower_for_export(qc: QuantumCircuit, *, optimization_level: int = 1) -> QuantumCircuit:
    """The circuit rewritten in the {u, cx} basis (no device coupling map)."""
    return transpile(qc, basis_gates=EXPORT_BASIS, optimization_level=optimization_level, seed_transpiler=0)


def to_qasm3(qc: QuantumCircuit) -> str:
    """OpenQASM 3 text of `qc` in the {u, cx} basis."""
    from qiskit import qasm3

    return qasm3.dumps(lower_for_export(qc))


def draw_text(qc: QuantumCircuit, *, fold: int = 120, decompose: int = 0) -> str:
    """Text drawing; `decompose` levels of definitions are expanded first."""
    circ = qc
    for _ in range(max(0, decompose)):
        nxt = circ.decompose()
        if nxt.count_ops() == circ.count_ops():
            break  # nothing left to expand (a large `decompose` no longer loops for minutes)
        circ = nxt
    return str(circ.draw(output="text", fold=fold))
