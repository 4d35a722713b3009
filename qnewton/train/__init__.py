"""Training driver of Q-Newton (paper Algorithm 2): SGD and Newton with classical, quantum or
scheduled Hessian inversions.

Modules: `config` (TrainConfig, every option), `data` (digits, MNIST IDX), `models` (MLP),
`newton` (the Newton step: regularize, prune, schedule, solve, safeguard), `runner`
(`run_training`: the loop for each method, faults, resume), `ledger` (JSONL rows), `checkpoint`,
`report` (Table-III-like table, report.md/json). See docs/training.md.
"""
