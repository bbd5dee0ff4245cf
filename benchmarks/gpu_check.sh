#!/usr/bin/env bash
# The GPU checks, in one run (needs one CUDA GPU; the log goes to ${OUT:-.}/gpu_check.log): the
# CUDA tests, the speed figures quoted in docs/gpt.md ("On a GPU"), then the single-process tests
# with the GPU visible. Run from the repository root: bash benchmarks/gpu_check.sh
set -uo pipefail
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1 FROMZERO_CACHE="${TMPDIR:-/tmp}/fz-cache"
LOG="${OUT:-.}/gpu_check.log"
PY=${PYTHON:-python3}
{
  nvidia-smi -L; $PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
  echo "== CUDA tests"
  $PY -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_trainer.py tests/test_kernels.py 2>&1 | tail -4
  echo "== GPT-2 124M, bf16, context 1024, batch 16 x 32 micro-batches (tokens/s, MFU)"
  $PY -m fromzero pretrain gpt --data shakespeare --preset gpt2 --batch-size 16 --max-iters 30 \
      --eval-interval 30 --eval-tokens 16384 --sample-tokens 0 --device cuda --out /tmp/gpu-gpt2 --quiet \
      && cut -d, -f1-20 /tmp/gpu-gpt2/history.csv
  echo "== shakespeare-char, 2,000 steps on the GPU"
  /usr/bin/time -f "%e s wall" $PY -m fromzero pretrain gpt --data shakespeare --device cuda --out /tmp/gpu-char --quiet
  echo "== the tutorial's CNN, 1 epoch on the GPU"
  $PY -m fromzero train mnist-cnn --epochs 1 --device cuda --out /tmp/gpu-mnist 2>&1 | tail -3
  echo "== single-process tests with the GPU visible"
  timeout "${TEST_BUDGET:-200}" $PY -m pytest -q -p no:cacheprovider tests --ignore tests/distributed \
      --ignore tests/reliability/test_sigkill.py --ignore tests/reliability/test_run_identity.py 2>&1 | tail -8
} 2>&1 | tee "$LOG"
