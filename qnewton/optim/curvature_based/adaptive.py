"""AdaHessian and Lookahead from `pytorch_optimizer`, adapted to the trainer's closure.

* `AdaHessianOptimizer`: AdaHessian (Yao et al. 2021; survey 003 Sec. 4) keeps Adam's running
  average m of the gradient but divides by the root of a running average of the squared Hutchinson
  estimate of the Hessian diagonal, D = z * (H z) with z a Rademacher vector, so the update is
  theta <- theta - lr m_hat / ((v_hat)^(k/2) + eps), v the running average of D^2 (beta2) and k the
  Hessian power. `pytorch_optimizer.AdaHessian` expects a gradient built with
  ``create_graph=True``; the trainer's closure does a plain backward, so this class evaluates the
  loss and gradient through the closure (one gradient evaluation) and computes the Hessian-vector
  products H z itself on the closure's batch (a second backward through a graph of the
  gradient), passing the diagonal estimate to the library's step (``step(hessian=...)``). The
  estimate is recomputed every ``update_period`` steps.
* `make_lookahead`: Lookahead (Zhang et al. 2019; survey 003) wraps a base optimizer (the "fast"
  weights) and every k steps moves slow weights phi <- phi + alpha (theta - phi) and restarts
  the fast weights from them; `pytorch_optimizer.Lookahead` does it, around a torch Adam or SGD.

Nothing of the two algorithms is reimplemented here: only validation (ValueError naming the
parameter; the library raises its own exception types) and the Hessian-vector products.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
from pytorch_optimizer import AdaHessian, Lookahead

from qnewton.optim.quasi_newton.base import check_int, check_number
from qnewton.optim.step_report import StepReport

HESSIAN_DISTRIBUTIONS: tuple[str, ...] = ("rademacher", "gaussian")
LOOKAHEAD_BASES: tuple[str, ...] = ("adam", "sgd")
PULLBACK_MOMENTUM: tuple[str, ...] = ("none", "reset", "pullback")


def hutchinson_diagonal(model: torch.nn.Module, batch: Any, params: list[torch.Tensor], num_samples: int,
                        distribution: str) -> list[torch.Tensor]:
    """The Hutchinson estimate of diag(H) of the batch loss: (1/S) sum_s z_s * (H z_s), z_s with
    independent Rademacher (or standard normal) entries, E[z z^T] = I, so E[z * H z] = diag(H).
    Draws from torch's global generator (a checkpoint restores it)."""
    with torch.enable_grad():
        loss = batch.loss_fn(model(batch.inputs), batch.targets)
        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
        grads = [g if g is not None else torch.zeros_like(p).requires_grad_(True) for g, p in zip(grads, params)]
        out = [torch.zeros_like(p) for p in params]
        for i in range(num_samples):
            if distribution == "rademacher":
                zs = [torch.randint_like(p, 0, 2) * 2.0 - 1.0 for p in params]
            else:
                zs = [torch.randn_like(p) for p in params]
            hzs = torch.autograd.grad(grads, params, grad_outputs=zs, retain_graph=i < num_samples - 1,
                                      allow_unused=True)
            for acc, hz, z in zip(out, hzs, zs):
                if hz is not None:
                    acc.add_(hz.detach() * z / num_samples)
    return out


class AdaHessianOptimizer(AdaHessian):
    """AdaHessian (module docstring) driven by `step(closure)` with a `qnewton.curvature.BatchClosure`.

    lr = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-4 (pytorch_optimizer's default is 1e-16; 1e-4
    bounds the step where the Hessian diagonal estimate is near zero), weight_decay = 0.0
    (decoupled), hessian_power = 1.0 (k in (0, 1]), update_period = 1, num_samples = 1,
    hessian_distribution = "rademacher". One gradient evaluation per step plus, on Hessian steps,
    num_samples Hessian-vector products."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 0.1, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-4, weight_decay: float = 0.0, hessian_power: float = 1.0, update_period: int = 1,
                 num_samples: int = 1, hessian_distribution: str = "rademacher") -> None:
        check_number("lr", lr, low=0.0, low_open=True)
        check_number("beta1", beta1, low=0.0, high=1.0, high_open=True)
        check_number("beta2", beta2, low=0.0, high=1.0, high_open=True)
        check_number("eps", eps, low=0.0)
        check_number("weight_decay", weight_decay, low=0.0)
        check_number("hessian_power", hessian_power, low=0.0, high=1.0, low_open=True)
        check_int("update_period", update_period, 1)
        check_int("num_samples", num_samples, 1)
        if hessian_distribution not in HESSIAN_DISTRIBUTIONS:
            raise ValueError(f"hessian_distribution: must be one of {', '.join(HESSIAN_DISTRIBUTIONS)}, "
                             f"got {hessian_distribution!r}")
        super().__init__(params, lr=float(lr), betas=(float(beta1), float(beta2)), weight_decay=float(weight_decay),
                         hessian_power=float(hessian_power), update_period=int(update_period),
                         num_samples=int(num_samples), hessian_distribution=hessian_distribution, eps=float(eps),
                         foreach=False)
        self.last_gradient_evaluations: int | None = None
        self.last_report: StepReport | None = None

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None,  # type: ignore[override]
             hessian: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Loss and gradient from the closure, the Hutchinson diagonal on the closure's batch on
        every update_period-th step, then the library's AdaHessian update."""
        if closure is None or not hasattr(closure, "model") or not hasattr(closure, "batch"):
            raise ValueError("closure: AdaHessian needs step(closure) with a closure carrying .model and .batch "
                             "(qnewton.curvature.BatchClosure)")
        with torch.enable_grad():
            loss = closure()
        params = [p for g in self.param_groups for p in g["params"]]
        step = int(self.param_groups[0].get("step", 0)) + 1
        if hessian is None and (step - 1) % self.update_period == 0:
            hessian = hutchinson_diagonal(closure.model, closure.batch, params, self.num_samples, self.distribution)
        super().step(None, hessian=hessian)
        self.last_gradient_evaluations = 1
        return loss


def make_lookahead(params: Iterable[torch.Tensor], optimizer: str = "adam", lr: float = 3e-2, k: int = 5,
                   alpha: float = 0.5, pullback_momentum: str = "none", momentum: float = 0.9) -> Lookahead:
    """Lookahead (module docstring) around torch's Adam or SGD with heavy-ball `momentum` at rate
    lr = 0.03: k = 5 fast steps per slow update, alpha = 0.5 (the library's defaults), pullback_momentum
    "none" | "reset" | "pullback" (the SGD momentum buffer at a slow update). One gradient
    evaluation per step."""
    if optimizer not in LOOKAHEAD_BASES:
        raise ValueError(f"optimizer: must be one of {', '.join(LOOKAHEAD_BASES)}, got {optimizer!r}")
    check_number("lr", lr, low=0.0, low_open=True)
    check_int("k", k, 1)
    check_number("alpha", alpha, low=0.0, high=1.0)
    check_number("momentum", momentum, low=0.0, high=1.0, high_open=True)
    if pullback_momentum not in PULLBACK_MOMENTUM:
        raise ValueError(f"pullback_momentum: must be one of {', '.join(PULLBACK_MOMENTUM)}, got {pullback_momentum!r}")
    if pullback_momentum != "none" and optimizer != "sgd":
        raise ValueError(f"pullback_momentum: {pullback_momentum!r} acts on SGD's momentum buffer; use optimizer=sgd")
    params = list(params)
    if optimizer == "adam":
        base: torch.optim.Optimizer = torch.optim.Adam(params, lr=float(lr))
    else:
        base = torch.optim.SGD(params, lr=float(lr), momentum=float(momentum))
    return Lookahead(base, k=int(k), alpha=float(alpha), pullback_momentum=pullback_momentum)
