"""Run one experiment over its seeds and write ``<out>/<name>/`` atomically.

Written files (all inside ``<out>/<name>/``):

* ``<table>.raw.csv``: every row of every seed (a ``seed`` column added);
* ``<table>.csv``: mean / std / min / max across seeds per setting (`aggregate`);
* ``<table>.md``: the same as a markdown table ('mean ± std');
* ``results.json``: parameters, seeds, data source, measured run time, where the cost models'
  numbers came from (``cost_sources``: a given value, this machine's saved profile or the pinned
  default), every table;
* ``*.png``: the plot(s); ``README.md``: tables and plots on one page;
* ``runs/``: training run folders (ledgers) of the experiments that train.
"""

from __future__ import annotations

import datetime as _dt
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from qnewton.errors import UsageError
from qnewton.experiments.aggregate import aggregate_rows
from qnewton.experiments.config import ExperimentConfig
from qnewton.experiments.params import params_to_dict
from qnewton.experiments.publish import atomic_output_dir, check_results_root
from qnewton.experiments.results import markdown_table, write_csv, write_json
from qnewton.experiments.spec import RunContext, Tables

DEFAULT_OUT = Path("results")


@dataclass(frozen=True)
class RunOutcome:
    """Where a run wrote its results, and its summaries (aggregated tables)."""

    name: str
    directory: Path
    files: tuple[Path, ...]
    summaries: Tables
    raw: Tables
    measured_seconds: float


def check_data_dir(data_dir: str | Path | None) -> Path | None:
    """None (digits) or an existing folder (MNIST IDX files, checked by the data loader)."""
    if data_dir is None:
        return None
    path = Path(data_dir)
    if not path.is_dir():
        raise UsageError(f"--data-dir: not a folder: {data_dir}")
    return path


def run_experiment(
    config: ExperimentConfig,
    *,
    out: str | Path = DEFAULT_OUT,
    data_dir: str | Path | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> RunOutcome:
    """Run `config` for each of its seeds, aggregate, write results, and return the paths.

    The output folder is checked first (`check_results_root`), so a bad `out` fails in one line
    before any seed runs."""
    exp = config.experiment
    out_root = check_results_root(out, [exp.name])
    data = check_data_dir(data_dir)
    if data is not None and not exp.uses_data:
        log(f"[{exp.name}] note: this experiment trains nothing; --data-dir is ignored")
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    t_start = time.perf_counter()
    raw: Tables = {t.name: [] for t in exp.tables}
    seed_seconds: dict[int, float] = {}
    with atomic_output_dir(out_root, exp.name) as tmp:
        ctx = RunContext(quick=config.quick, data_dir=data, work_dir=tmp / "runs", log=log,
                         data_name=getattr(config.params, "data", None))
        for seed in config.seeds:
            log(f"[{exp.name}] seed {seed} ({'quick' if config.quick else 'full'} settings)")
            t0 = time.perf_counter()
            tables = exp.run_seed(config.params, seed, ctx)
            seed_seconds[seed] = time.perf_counter() - t0
            for spec in exp.tables:
                for row in tables.get(spec.name, []):
                    raw[spec.name].append({"seed": seed, **row})
        summaries: Tables = {t.name: aggregate_rows(raw[t.name], t.keys) for t in exp.tables}
        files: list[Path] = []
        page = [f"# {exp.name}: {exp.title}", "", f"Paper: {exp.paper}. Settings: {'QUICK' if config.quick else 'full'}; "
                f"seeds {list(config.seeds)}; data: {ctx.dataset}.", ""]
        for spec in exp.tables:
            files.append(write_csv(tmp / f"{spec.name}.raw.csv", raw[spec.name]))
            files.append(write_csv(tmp / f"{spec.name}.csv", summaries[spec.name]))
            md = markdown_table(summaries[spec.name], spec.keys, spec.columns, spec.title)
            (tmp / f"{spec.name}.md").write_text(md, encoding="utf-8")
            files.append(tmp / f"{spec.name}.md")
            page += [md, ""]
        pngs = exp.plot(config.params, summaries, tmp)
        files.extend(pngs)
        page += [f"![{p.stem}]({p.name})" for p in pngs]
        measured_total = time.perf_counter() - t_start
        files.append(
            write_json(
                tmp / "results.json",
                {
                    "experiment": exp.name,
                    "title": exp.title,
                    "paper": exp.paper,
                    "quick": config.quick,
                    "seeds": list(config.seeds),
                    "params": params_to_dict(config.params),
                    "config_file": str(config.source),
                    "dataset": ctx.dataset,
                    "data_dir": str(data) if data else None,
                    "started_utc": started,
                    "measured_seconds_total": measured_total,
                    "measured_seconds_per_seed": {str(k): v for k, v in seed_seconds.items()},
                    "machine": {"python": platform.python_version(), "platform": platform.platform(), "processor": platform.processor()},
                    "cost_sources": dict(ctx.extra.get("cost_sources", {})),
                    "tables": {t.name: {"keys": list(t.keys), "summary": summaries[t.name], "raw": raw[t.name]} for t in exp.tables},
                },
            )
        )
        (tmp / "README.md").write_text("\n".join(page) + "\n", encoding="utf-8")
        files.append(tmp / "README.md")
        rel = [p.relative_to(tmp) for p in files]
    final = out_root / exp.name
    return RunOutcome(
        name=exp.name,
        directory=final,
        files=tuple(final / r for r in rel),
        summaries=summaries,
        raw=raw,
        measured_seconds=measured_total,
    )
