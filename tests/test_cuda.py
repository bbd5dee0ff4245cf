"""GPU checks: skipped on machines without CUDA (CI); run them where a GPU is (`pytest tests/test_cuda.py`)."""
import pytest
import torch
from torch import nn

from fromzero import Trainer
from fromzero.recipes.gpt import pretrain
from fromzero.train import Callback

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_fit_on_cuda_learns_and_keeps_its_sums_on_the_device():
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = (x[:, 0] > 0).long()
    trainer = Trainer(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)), optimizer="adam", lr=1e-2,
                      metrics=("accuracy",), device="cuda", verbose=0)
    hist = trainer.fit((x, y), epochs=5, batch_size=32).history
    assert hist["accuracy"][-1] > 0.9 and hist["loss"][-1] < hist["loss"][0]
    assert next(trainer.model.parameters()).is_cuda


class StopAfterFirstEpoch(Callback):
    def on_epoch_end(self, trainer, epoch, logs):
        trainer.stop_training = True


def test_gpt_pretrains_with_bf16_on_cuda_and_resumes_on_the_cpu(tmp_path):
    kw = dict(max_iters=20, eval_interval=10, eval_tokens=1024, batch_size=8, sample_tokens=0, verbose=0)
    out = tmp_path / "run"
    pretrain("shakespeare", preset="tiny", out=out, device="cuda", callbacks=[StopAfterFirstEpoch()], **kw)
    assert len((out / "history.csv").read_text().splitlines()) == 2          # header + epoch 1
    # a GPU checkpoint continues on the CPU: the saved running sums move to the new device
    pretrain("shakespeare", preset="tiny", out=out, device="cpu", resume=True)
    rows = (out / "history.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[-1].split(",")[1] == "20"
