"""Experiment framework: config validation, seed aggregation, atomic result folders, CLI list."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from qnewton.cli import main
from qnewton.errors import UsageError
from qnewton.experiments.aggregate import aggregate_rows
from qnewton.experiments.config import load_config, parse_config
from qnewton.experiments.registry import CATALOG, experiment_names, get_experiment
from qnewton.experiments.results import atomic_output_dir, markdown_table


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_catalog_entry_has_a_valid_config_in_both_modes() -> None:
    assert {"table2-kappa-time", "table3-dnn", "peers", "ft-crossover"} <= set(experiment_names())
    for name in experiment_names():
        full = load_config(name)
        quick = load_config(name, quick=True)
        assert full.name == name and quick.name == name
        assert quick.quick and not full.quick
        assert get_experiment(name).paper == CATALOG[name][1]


def test_quick_overrides_params_and_seeds(tmp_path: Path) -> None:
    path = _write(tmp_path, 'name = "table2-kappa-time"\nseeds = 3\nbase_seed = 5\n[params]\nsizes = [10, 20]\n'
                            '[quick]\nsizes = [10]\nseeds = 1\n')
    full = load_config(path)
    quick = load_config(path, quick=True)
    assert full.params.sizes == (10, 20) and full.seeds == (5, 6, 7)
    assert quick.params.sizes == (10,) and quick.seeds == (5,)
    assert load_config(path, quick=True, seeds=2).seeds == (5, 6)
    # keys absent from [params] keep the dataclass defaults (the paper's settings)
    assert full.params.estimators == ("bound", "lanczos", "exact")


@pytest.mark.parametrize(
    "body, message",
    [
        ('name = "nope"\n', "unknown name 'nope'"),
        ('seeds = 2\n', "name: missing"),
        ('name = "table2-kappa-time"\ncolour = 1\n', "colour: unknown key"),
        ('name = "table2-kappa-time"\n[params]\nsizez = [10]\n', "params.sizez: unknown parameter"),
        ('name = "table2-kappa-time"\n[params]\nsizes = "10"\n', "params.sizes: must be a list of int"),
        ('name = "table2-kappa-time"\n[params]\nsizes = [10, 2.5]\n', "params.sizes[1]: must be an integer"),
        ('name = "table2-kappa-time"\n[params]\nsizes = [100, 10]\n', "sizes: values must be strictly increasing"),
        ('name = "table2-kappa-time"\n[params]\nestimators = ["guess"]\n', "must be one of 'bound', 'lanczos', 'exact'"),
        ('name = "table2-kappa-time"\n[params]\nrepeats = true\n', "repeats: must be an integer"),
        ('name = "table2-kappa-time"\n[quick]\nkappas = [0.5]\n', "quick: kappas: every kappa must be > 1"),
        ('name = "table2-kappa-time"\nseeds = 0\n', "seeds: must be between 1 and 100"),
        ('name = "table2-kappa-time"\nbase_seed = -1\n', "base_seed: must be >= 0"),
        ('name = "table2-kappa-time"\nparams = 3\n', "params: must be a table"),
        ('name = "table2-kappa-time\n', "not valid TOML"),
    ],
)
def test_config_errors_are_one_line_usage_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        load_config(_write(tmp_path, body))
    text = str(info.value)
    assert message in text and "\n" not in text


def test_quick_table_is_validated_even_for_full_runs(tmp_path: Path) -> None:
    path = _write(tmp_path, 'name = "table2-kappa-time"\n[quick]\nrepeats = 0\n')
    with pytest.raises(UsageError, match="quick: repeats: must be in 1..100"):
        load_config(path)


def test_seeds_option_is_checked() -> None:
    with pytest.raises(UsageError, match="--seeds: must be between 1 and 100"):
        parse_config({"name": "table2-kappa-time"}, "x.toml", seeds=0)


def test_missing_config_and_name_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QNEWTON_EXPERIMENTS", str(tmp_path))
    with pytest.raises(UsageError, match="no file .*table2-kappa-time.toml"):
        load_config("table2-kappa-time")
    (tmp_path / "fig5-cost-scaling.toml").write_text('name = "table2-kappa-time"\n', encoding="utf-8")
    with pytest.raises(UsageError, match="says 'table2-kappa-time' but the file is for 'fig5-cost-scaling'"):
        load_config("fig5-cost-scaling")


def test_aggregate_mean_spread_and_missing_values() -> None:
    rows = [
        {"seed": 0, "method": "sgd", "acc": 0.90, "steps": 10, "label": "a"},
        {"seed": 1, "method": "sgd", "acc": 0.94, "steps": None, "label": "a"},
        {"seed": 2, "method": "sgd", "acc": 0.92, "steps": 14, "label": "b"},
        {"seed": 0, "method": "newton", "acc": 0.97, "steps": 3, "label": "a"},
    ]
    out = aggregate_rows(rows, ["method"])
    sgd, newton = out
    assert sgd["method"] == "sgd" and sgd["n_seeds"] == 3
    assert sgd["acc_mean"] == pytest.approx(0.92)
    assert sgd["acc_std"] == pytest.approx(0.02)  # sample std (ddof = 1)
    assert (sgd["acc_min"], sgd["acc_max"]) == (0.90, 0.94)
    assert sgd["steps_mean"] == pytest.approx(12.0) and sgd["steps_count"] == 2
    assert sgd["label"] == "a|b"
    assert newton["acc_std"] == 0.0 and "steps_count" not in newton
    md = markdown_table(out, ["method"], ["acc", "steps"])
    assert "| sgd | 0.92 ± 0.02 | 12 ± 2.828 (2/3 seeds) |" in md
    labelled = markdown_table(out, ["method"], ["label"])
    assert "| sgd | a\\|b |" in labelled  # seed values joined by "|" are escaped: one cell, not two
    assert all(line.count(" | ") == 1 for line in labelled.splitlines() if line.startswith("| "))


def test_aggregate_keeps_infinite_values_visible() -> None:
    out = aggregate_rows([{"seed": 0, "k": 1, "kappa": math.inf}, {"seed": 1, "k": 1, "kappa": math.inf}], ["k"])
    assert out[0]["kappa_mean"] == math.inf and out[0]["kappa_count"] == 0 and out[0]["kappa_infinite"] == 2
    assert markdown_table(out, ["k"], ["kappa"]).splitlines()[-1] == "| 1 | inf |"
    mixed = aggregate_rows([{"seed": 0, "k": 1, "c": math.inf}, {"seed": 1, "k": 1, "c": 2.0}], ["k"])
    assert "2 (1/2 seeds finite, 1 inf)" in markdown_table(mixed, ["k"], ["c"])


def test_atomic_output_dir_replaces_only_on_success(tmp_path: Path) -> None:
    with atomic_output_dir(tmp_path, "exp") as tmp:
        (tmp / "a.txt").write_text("one")
    assert (tmp_path / "exp" / "a.txt").read_text() == "one"
    with pytest.raises(RuntimeError):
        with atomic_output_dir(tmp_path, "exp") as tmp:
            (tmp / "a.txt").write_text("two")
            raise RuntimeError("boom")
    assert (tmp_path / "exp" / "a.txt").read_text() == "one"
    with atomic_output_dir(tmp_path, "exp") as tmp:
        (tmp / "b.txt").write_text("three")
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["exp"]  # no temp or old folders left


def test_cli_list_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiment", "list"]) == 0
    out = capsys.readouterr().out
    for name in experiment_names():
        assert name in out
    assert "[no config file]" not in out
    assert main(["experiment", "run", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown name 'nope'" in err
    assert main(["experiment", "run", "table2-kappa-time", "--data-dir", "/no/such/dir"]) == 2
    assert "--data-dir: not a folder" in capsys.readouterr().err
