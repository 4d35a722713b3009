"""Cost models: classical solve time, quantum query counts and per-query time, readout."""
