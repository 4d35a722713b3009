"""Training driver of Q-Newton (paper Algorithm 2): any registered method (`qnewton.methods`),
by default SGD and Newton with classical, quantum or scheduled Hessian inversions, side by side.

Modules: `config` (TrainConfig, every option), `data` (digits, MNIST IDX), `models` (MLP),
`setup` (cost models, model, size checks), `method_run` (one method's loop), `runner`
(`run_training`: every method of a run, the run folder, faults), `resume` (checks before a
resume), `rundir` (the folder's lock and contents), `ledger` (JSONL rows), `checkpoint`,
`report` (Table-III-like table, report.md/json). See docs/training.md and docs/architecture.md.
"""
