"""Pure price formulas: quantum query counts and readout, per-query time, classical solve time.

Numbers in, seconds out: nothing here imports Qiskit, a solver or the calibration code, reads a
file or the clock. The numbers the formulas need (a measured C, a device's gate durations) come
from `qnewton.calibrate`.
"""
