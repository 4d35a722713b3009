"""The Qiskit layer: block encodings, HHL, QSVT, SWAP-test readout, backends, resources (docs/quantum.md).

Modules are imported on demand (Qiskit import time is noticeable); start from
`qnewton.quantum.block_encoding.block_encode`, `qnewton.quantum.hhl.build_hhl`,
`qnewton.quantum.qsvt.build_qsvt`, `qnewton.quantum.backends.make_executor` and
`qnewton.solvers.circuit.CircuitSolver`.
"""
