"""The autoencoder task (seed paper 001 Sec. 6.2, scaled down): digits pixels in [0, 1], a deep
autoencoder with a linear code layer, pixel cross-entropy; it learns, its loss is the per-image
mean the curvature code assumes, and its options fail in one line."""

from pathlib import Path

import pytest
import torch

from qnewton.errors import UsageError
from qnewton.train.config import TrainConfig
from qnewton.train.runner import run_training
from qnewton.train.tasks import make_task
from qnewton.train.tasks.autoencoder import Autoencoder, load_digit_pixels, pixel_cross_entropy, pixel_entropy

SHAPE = "32,16,8,16,32"


def config(**kw) -> TrainConfig:
    base = dict(model="autoencoder", data="digits", hidden=SHAPE, method="adam", steps=60, batch_size=128,
                eval_every=10, target_loss=30.0, stop_at_target=False, seed=0)
    return TrainConfig(**{**base, **kw})


def test_pixels_splits_and_the_loss():
    x_tr, x_te = load_digit_pixels()
    assert x_tr.shape == (1347, 64) and x_te.shape == (450, 64)  # the classification task's split sizes
    assert x_tr.min() == 0.0 and x_tr.max() == 1.0
    x_tr2, x_val = load_digit_pixels(validation_fraction=0.2)
    assert x_tr2.shape[0] + x_val.shape[0] == 1347
    x = torch.as_tensor(x_te[:7], dtype=torch.float32)
    z = torch.randn(7, 64)
    manual = -(x * torch.log(torch.sigmoid(z)) + (1 - x) * torch.log(1 - torch.sigmoid(z))).sum(1).mean()
    assert float(pixel_cross_entropy(z, x)) == pytest.approx(float(manual), rel=1e-5)
    # its least value is the pixels' entropy, reached at z = logit(x)
    xc = x.double().clamp(1e-6, 1 - 1e-6)
    assert float(pixel_cross_entropy(torch.logit(xc), xc)) == pytest.approx(pixel_entropy(xc), rel=1e-9)


def test_shape_parameter_count_and_linear_code_layer():
    model = Autoencoder(64, (32, 16, 8, 16, 32))
    assert sum(p.numel() for p in model.parameters()) == 5544
    assert [m.out_features for m in model.layers] == [32, 16, 8, 16, 32, 64] and model.code_layer == 2
    # the code layer is linear: scaling the third layer's weights and bias scales the code
    torch.manual_seed(0)
    x = torch.rand(3, 64)
    h = x
    for i in range(2):
        h = torch.tanh(model.layers[i](h))
    code = model.layers[2](h)
    with torch.no_grad():
        model.layers[2].weight.mul_(2)
        model.layers[2].bias.mul_(2)
    assert torch.allclose(model.layers[2](h), 2 * code)


def test_the_autoencoder_learns(tmp_path: Path):
    report = run_training(config(runs_dir=str(tmp_path), name="ae"), run_dir=tmp_path / "ae", quiet=True)
    entry = report["adam"]
    ledger = (tmp_path / "ae" / "adam" / "ledger.jsonl").read_text().splitlines()
    import json

    first_loss = json.loads(ledger[0])["loss"]  # the first mini-batch, before any step
    # from about 44 (random weights) to the mean-image plateau of about 27 in 60 steps: a factor >= 1.5
    assert first_loss / entry["test_loss"] >= 1.5
    assert entry["test_accuracy"] is None
    assert entry["steps_to_target"] is not None  # test loss <= 30 reached


@pytest.mark.parametrize("method", ["kfac", "skqn-b1", "qnewton"])
def test_curvature_methods_step_on_the_autoencoder(tmp_path: Path, method: str):
    extra = {"curvature": "kfac", "blocks": "layer", "sgd_steps": 0, "eps": 1.0} if method == "qnewton" else {}
    if method == "kfac":  # its default damping 0.01 overshoots on this network (the peers grid sweeps it)
        extra["method_options"] = "kfac.damping=0.1"
    report = run_training(config(method=method, steps=4, eval_every=2, runs_dir=str(tmp_path), name=method, **extra),
                          run_dir=tmp_path / method, quiet=True)
    import json

    first = json.loads((tmp_path / method / method / "ledger.jsonl").read_text().splitlines()[0])["loss"]
    assert report[method]["steps"] == 4
    assert report[method]["test_loss"] < first


def test_bad_options_are_one_line(tmp_path: Path):
    with pytest.raises(UsageError, match="target_loss") as info:
        make_task(config(target_loss=-1.0))
    assert "\n" not in str(info.value)
    with pytest.raises(UsageError, match="data"):
        make_task(config(data="breast-cancer"))
