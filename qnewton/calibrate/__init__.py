"""Everything that measures, or reads and writes profiles, for the cost models.

The cost formulas (`qnewton.costs`) take plain numbers; this package produces them:

* the classical side: timing the classical solver and a sparse product on this machine
  (`classical_timing`) and the saved `qnewton calibrate classical` profile (`classical_profile`);
* the quantum side: device calibration profiles (`profiles`, `profile_schema`, `profile_files`),
  a transpiler target built from one (`profile_target`), block-encoding query circuits
  transpiled for it (`query_circuits`) and the per-query time they imply (`device_query_time`),
  and profiles exported from Qiskit backends (`export`);
* `resolve`: the one place that turns user options into cost models, with one default each
  (`query_time_model`, `classical_cost_model`), re-exported here.

Qiskit is imported only by the functions that need it, so importing this package is cheap.
"""

from qnewton.calibrate.resolve import classical_cost_model, query_time_model

__all__ = ["classical_cost_model", "query_time_model"]
