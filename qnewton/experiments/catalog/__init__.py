"""One module per reproduced table or figure; each exposes `EXPERIMENT` (see `..spec`)."""
