"""fig6-row-sparsity: histograms of the p%-sparsity of Hessian rows at two training steps.

Paper Fig. 6 (Sec. III-C): for each row of the Hessian, the fewest entries that hold p% of the
row's absolute sum (p = 50, 75, 90, 95), at step 0 and step 10 of training the DNN on MNIST
(12544 x 12544); the paper reads a trend towards sparser rows as training goes on (Insight #2).

Here: the exact Hessian over ALL parameters (1210 x 1210 for the 64-16-10 MLP on digits;
12730 x 12730 on MNIST, which needs ~1.3 GB per matrix) of the mean loss over a fixed set of
training examples (`hessian_examples`, the same examples at every step), for the model after
each step in `at_steps` of a training run with each method of `train_methods` (default:
classical Newton from step 0, `sgd_steps = 0` in the config, and plain SGD beside it: the paper's
early phase is SGD, so a trend seen only along the Newton trajectory would not be the paper's).
Step 0 is the initialization, the same for every method. p%-sparsity from
`qnewton.analysis.sparsity.p_sparsity`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import numpy as np

from qnewton.experiments.aggregate import value
from qnewton.experiments.params import require
from qnewton.experiments.plotting import figure, save
from qnewton.experiments.spec import Experiment, RunContext, TableSpec, Tables
from qnewton.experiments.training import TrainingParams, base_config, train


@dataclass(frozen=True)
class Params(TrainingParams):
    """at_steps: training steps after which the Hessian is profiled (0 = the initialization);
    percents: the p of p%-sparsity; train_methods: the trajectories profiled (each a method of
    `qnewton train`); hessian_examples: training examples in the profiled loss; bins: histogram
    bins (log-spaced)."""

    at_steps: tuple[int, ...] = (0, 10)
    percents: tuple[float, ...] = (50.0, 75.0, 90.0, 95.0)
    train_methods: tuple[str, ...] = ("classical", "sgd")
    hessian_examples: int = 1024
    bins: int = 30

    def __post_init__(self) -> None:
        super().__post_init__()
        require(len(self.at_steps) > 0 and list(self.at_steps) == sorted(set(self.at_steps)) and self.at_steps[0] >= 0,
                "at_steps", f"must be strictly increasing steps >= 0, got {list(self.at_steps)}")
        require(len(self.percents) > 0 and all(0 < q <= 100 for q in self.percents), "percents",
                f"each p must lie in (0, 100], got {list(self.percents)}")
        require(len(self.train_methods) > 0 and len(set(self.train_methods)) == len(self.train_methods)
                and all(m in ("sgd", "classical", "quantum", "qnewton") for m in self.train_methods),
                "train_methods", f"must be distinct methods among sgd, classical, quantum, qnewton, got {list(self.train_methods)}")
        require(self.hessian_examples >= 1, "hessian_examples", f"must be >= 1, got {self.hessian_examples}")
        require(2 <= self.bins <= 200, "bins", f"must be in 2..200, got {self.bins}")


def _full_hessian(model, x, y):
    from qnewton.curvature import curvature, make_blocks

    (c,) = curvature(model, make_blocks(model, "full"), x, y)
    return c.H.double().numpy()


def bin_edges(n: int, bins: int) -> np.ndarray:
    """Log-spaced edges from 1 to n + 1 (the same for every seed, so counts aggregate)."""
    return np.unique(np.round(np.geomspace(1, n + 1, bins + 1)).astype(np.int64)).astype(np.float64)


def run_seed(p: Params, seed: int, ctx: RunContext) -> Tables:
    import torch

    from qnewton.analysis.sparsity import p_sparsity
    from qnewton.train.checkpoint import load_checkpoint
    from qnewton.train.data import load_dataset
    from qnewton.train.setup import build_model

    # the same data as the training runs profiled below (`train`): IDX files, else the `data` parameter
    data_kw = {"data": "mnist", "data_dir": str(ctx.data_dir)} if ctx.data_dir is not None else {"data": p.data}
    cfg = base_config(p, seed=seed, **data_kw)
    data = load_dataset(cfg.data, data_dir=cfg.data_dir, test_fraction=cfg.test_fraction, train_limit=cfg.train_limit)
    m = min(p.hessian_examples, data.x_train.shape[0])
    x = torch.as_tensor(data.x_train[:m], dtype=torch.float32)
    y = torch.as_tensor(data.y_train[:m])
    summary, hist = [], []
    at_init: dict[str, np.ndarray] | None = None
    for method in p.train_methods:
        for step in p.at_steps:
            model = build_model(cfg, data)
            if step > 0:
                _, run_dir = train(p, seed, ctx, name=f"fig6-{method}-step{step}", method=method, steps=step,
                                   stop_at_target=False)
                model.load_state_dict(load_checkpoint(run_dir / method / "checkpoint.pt")["model"])
            if step == 0 and at_init is not None:
                profile, n = at_init, n0
            else:
                H = _full_hessian(model, x, y)
                n = H.shape[0]
                profile = p_sparsity(H, p.percents)
                if step == 0:
                    at_init, n0 = profile, n
            edges = bin_edges(n, p.bins)
            for q in p.percents:
                s = profile[float(q)].astype(np.float64)
                summary.append({
                    "method": method, "step": step, "p": float(q), "n": n,
                    "median": float(np.median(s)), "mean": float(s.mean()),
                    "p10": float(np.percentile(s, 10)), "p90": float(np.percentile(s, 90)),
                    "median_over_n": float(np.median(s) / n),
                })
                counts, _ = np.histogram(s, bins=edges)
                for lo, hi, c in zip(edges[:-1], edges[1:], counts):
                    hist.append({"method": method, "step": step, "p": float(q), "bin_lo": int(lo), "bin_hi": int(hi),
                                 "rows": int(c)})
            ctx.log(f"  {method} step {step}: N = {n}, median p%-sparsity " +
                    ", ".join(f"{q:g}%: {np.median(profile[float(q)]):.0f}" for q in p.percents))
    return {"summary": summary, "histogram": hist}


def plot(p: Params, tables: Tables, out: Path) -> list[Path]:
    methods = list(p.train_methods)
    fig, axes = figure(nrows=len(p.at_steps), ncols=len(methods), width=4.5, height=3.0)
    for i, step in enumerate(p.at_steps):
        for j, method in enumerate(methods):
            ax = axes[i, j]
            for q in p.percents:
                rows = [r for r in tables["histogram"]
                        if r["method"] == method and r["step"] == step and r["p"] == float(q)]
                lo = np.array([r["bin_lo"] for r in rows], dtype=float)
                hi = np.array([r["bin_hi"] for r in rows], dtype=float)
                counts = np.array([value(r, "rows") for r in rows])
                ax.stairs(counts, np.append(lo, hi[-1]) if len(lo) else [0, 1], label=f"p = {q:g}%", linewidth=1.5)
            ax.set_xscale("log")
            ax.set_title(f"{method}, step {step}" if step else "initialization (every method)")
            if j == 0:
                ax.set_ylabel("number of rows")
            if i == 0 and j == 0:
                ax.legend(fontsize=8)
    for j in range(len(methods)):
        axes[-1][j].set_xlabel("p%-sparsity of a row")
    fig.suptitle("Fig. 6: p%-sparsity of Hessian rows along each trajectory (mean over seeds)")
    return [save(fig, out / "fig6-row-sparsity.png")]


EXPERIMENT = Experiment(
    name="fig6-row-sparsity",
    title="Histograms of the p%-sparsity of Hessian rows at step 0 and step 10",
    paper="Fig. 6",
    params_type=Params,
    tables=(
        TableSpec("summary", ("method", "step", "p"), "p%-sparsity of Hessian rows: median, mean, 10th and 90th percentile over rows",
                  ("n", "median", "mean", "p10", "p90", "median_over_n")),
        TableSpec("histogram", ("method", "step", "p", "bin_lo", "bin_hi"), "Histogram of per-row p%-sparsity (rows per bin)", ("rows",)),
    ),
    run_seed=run_seed,
    plot=plot,
    uses_data=True,
)
