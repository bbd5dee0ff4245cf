"""fromzero.export: ONNX files of the three families, checked here again with onnxruntime on shapes
the export did not check (the batch and sequence axes are really dynamic)."""
import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from fromzero.checkpoint import save_model  # noqa: E402
from fromzero.errors import ConfigError  # noqa: E402
from fromzero.export import export_onnx  # noqa: E402
from fromzero.models.cnn import build_model  # noqa: E402
from fromzero.models.configs import ForecasterConfig, GPTConfig  # noqa: E402
from fromzero.models.forecaster import Forecaster  # noqa: E402
from fromzero.models.gpt import GPT  # noqa: E402
from tests.inprocess import run_cli  # noqa: E402


def _check(run, model, inputs):
    r = export_onnx(run)
    assert r["max_abs_error"] <= 1e-4 and len(r["checked_shapes"]) >= 2
    session = ort.InferenceSession(r["path"], providers=["CPUExecutionProvider"])
    for x in inputs:                               # shapes the export itself did not try
        with torch.no_grad():
            want = model(x).numpy()
        got = session.run(None, {r["input"]: x.numpy()})[0]
        assert got.shape == want.shape and np.abs(got - want).max() <= 1e-4


def test_the_cnn_exports_from_the_cli_and_a_run_is_never_written_over(tmp_path):
    import onnx

    torch.manual_seed(0)
    model = build_model().eval()
    save_model(tmp_path / "cnn", model, extra={"task": "image-classification", "classes": list("0123456789")})
    r = run_cli(["export", "cnn", "--format", "onnx", "--out", "cnn.onnx"], tmp_path)
    assert r.returncode == 0 and "onnxruntime matches PyTorch" in r.stdout, r.stderr
    session = ort.InferenceSession(str(tmp_path / "cnn.onnx"), providers=["CPUExecutionProvider"])
    for b in (2, 7):                               # batch sizes the export did not try
        x = torch.rand(b, 1, 28, 28)
        with torch.no_grad():
            want = model(x).numpy()
        assert np.abs(session.run(None, {"images": x.numpy()})[0] - want).max() <= 1e-4
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "cnn.onnx")).metadata_props}
    assert props["task"] == "image-classification" and props["input"] == "images" and "7" in props["classes"]
    before = (tmp_path / "cnn" / "model.safetensors").read_bytes()
    for out in ("cnn/model.safetensors", "cnn"):                # never over a run's own files
        r = run_cli(["export", "cnn", "--format", "onnx", "--out", out], tmp_path)
        assert r.returncode == 2 and "expected a new file or an earlier .onnx export" in r.stderr, r.stderr
    assert (tmp_path / "cnn" / "model.safetensors").read_bytes() == before
    r = run_cli(["export", "cnn", "--format", "hf"], tmp_path)
    assert r.returncode == 2 and "--format onnx" in r.stderr
    with pytest.raises(ConfigError, match="image classifier, a forecaster or a GPT"):
        from fromzero.export import _inputs
        _inputs({"task": "text-classification", "name": "gpt-classifier"}, None)


def test_the_forecaster_exports_with_a_dynamic_batch(tmp_path):
    torch.manual_seed(0)
    model = Forecaster(ForecasterConfig(n_series=3, n_covariates=2, targets=[0, 2], lookback=12, horizon=4,
                                        hidden=8)).eval()
    save_model(tmp_path, model, extra={"task": "forecast"})
    _check(tmp_path, model, [torch.randn(b, 12, 5) for b in (2, 9)])


def test_the_gpt_exports_with_dynamic_batch_and_length(tmp_path):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, n_embd=16,
                          zero_init=False)).eval()   # rotary: the harder case (tests/hub exports learned positions)
    save_model(tmp_path, model, extra={"task": "language-modeling"})
    _check(tmp_path, model, [torch.randint(0, 40, s) for s in ((2, 3), (5, 11))])
