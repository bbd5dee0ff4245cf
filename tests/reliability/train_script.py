"""Training runs that the reliability tests start in fresh processes (and SIGKILL).

usage: python train_script.py RUN_DIR OUT_JSON [--kill-at STEP] [--resume] [--kill-in-save STEP] [--keep-best]
       python train_script.py --plan PLAN_JSON OUT_JSON

The first form trains a small Sequential CNN through the Python API. The second runs the recipes
(``pretrain``, ``finetune`` full and LoRA, ``train_forecast``) as test_sigkill.py plans them: each
job in a child process forked from this one (torch is imported once), a job killed with SIGKILL
after a given step by the callback below, its resume in another child.
"""
import inspect
import json
import os
import signal
import sys
import time

import torch

from fromzero import Sequential
from fromzero import layers as L
from fromzero.checkpoint import load_model  # noqa: F401  (import side effects as in real use)
from fromzero.train import Callback, KeepBest, Trainer, schedules


class KillAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_batch_end(self, trainer, logs):
        if trainer.step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no atexit: like a power cut


class CheckpointEvery(Callback):
    """Checkpoint every ``n`` steps in a recipe that does not ask for it (mid-epoch states)."""

    def __init__(self, n):
        self.n = n

    def on_train_begin(self, trainer):
        trainer.checkpointer.every = self.n


class StartStep(Callback):
    """Writes the step training starts from (after any restore) to ``path``: a resume that silently
    started over would otherwise reach the same weights."""

    def __init__(self, path):
        self.path = path

    def on_train_begin(self, trainer):
        with open(self.path, "w") as f:
            f.write(str(trainer.step))


def with_callbacks(callbacks, resume: bool):
    """Every ``Trainer.fit`` of this process gets ``callbacks`` first, and ``resume=True`` if asked:
    the recipes run unchanged, whatever options they grow."""
    real = Trainer.fit

    def fit(self, *args, **kwargs):
        self.callbacks[:0] = callbacks
        if resume:
            kwargs["resume"] = True
        return real(self, *args, **kwargs)
    Trainer.fit = fit


def resume_kw(fn, resume: bool) -> dict:
    return {"resume": True} if resume and "resume" in inspect.signature(fn).parameters else {}


def job_gpt(out, inputs, resume):
    from fromzero.recipes.gpt import pretrain
    pretrain(inputs["corpus"], preset="tiny", out=out, verbose=0, max_iters=12, eval_interval=6,
             eval_tokens=512, device="cpu", peak_flops=1e9, plot=False, **resume_kw(pretrain, resume))


def job_finetune(out, inputs, resume, **extra):
    from fromzero.recipes.finetune import finetune
    finetune(inputs["base"], inputs["task"], out=out, verbose=0, epochs=2, batch_size=16, evals_per_epoch=2,
             device="cpu", dropout=0.1, lr=5e-3, **extra, **resume_kw(finetune, resume))


def job_lora(out, inputs, resume):
    job_finetune(out, inputs, resume, lora_rank=4)


def job_forecast(out, inputs, resume):
    from fromzero.recipes.forecast import forecast_config, train_forecast
    cfg = forecast_config(inputs["csv"], target="a", inputs="a", lookback=24, horizon=6, split="0.6,0.2,0.2",
                          hidden=16, epochs=3, lr=1e-2, patience=12, batch_size=32, device="cpu")
    train_forecast(out, cfg, verbose=0, **resume_kw(train_forecast, resume))


def run_plan(plan_path, out):
    """Each job in a forked child; the parent never trains, so no thread pool crosses a fork."""
    import matplotlib.pyplot  # noqa: F401  (imported once, before forking: the plots)
    from fromzero.recipes import finetune, forecast, gpt  # noqa: F401
    plan = json.loads(open(plan_path).read())
    statuses = []
    for job in plan["jobs"]:
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                callbacks = [StartStep(job["out"] + ".start")]
                if job.get("every"):
                    callbacks.append(CheckpointEvery(job["every"]))
                if job.get("kill_at"):
                    callbacks.append(KillAt(job["kill_at"]))
                with_callbacks(callbacks, job.get("resume", False))
                globals()["job_" + job["case"]](job["out"], plan["inputs"], job.get("resume", False))
                code = 0
            except BaseException:
                import traceback
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        statuses.append(-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
        print(f"{job['case']}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    with open(out, "w") as f:
        json.dump(statuses, f)


def main():
    if sys.argv[1] == "--plan":
        torch.set_num_threads(1)
        return run_plan(sys.argv[2], sys.argv[3])
    run_dir, out = sys.argv[1], sys.argv[2]
    kill_at = int(sys.argv[sys.argv.index("--kill-at") + 1]) if "--kill-at" in sys.argv else None
    if "--kill-in-save" in sys.argv:
        import fromzero.checkpoint as ck
        at = int(sys.argv[sys.argv.index("--kill-in-save") + 1])
        real = ck.save_weights

        def dying_save(path, model):
            real(path, model)
            if f"step-{at:08d}" in str(path) or ".tmp-" in str(path) and ck._saving_step == at:
                os.kill(os.getpid(), signal.SIGKILL)
        orig_ckpt = ck.save_checkpoint

        def save_checkpoint(run_dir, step, model, state, keep=2):
            ck._saving_step = step
            return orig_ckpt(run_dir, step, model, state, keep)
        ck.save_weights, ck.save_checkpoint = dying_save, save_checkpoint
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(300, 1, 8, 8, generator=g), torch.randint(0, 3, (300,), generator=g)
    model = Sequential([L.Input((1, 8, 8)), L.Conv2D(4, 3, activation="relu"), L.Dropout(0.2),
                        L.Flatten(), L.Dense(3)])
    steps = 3 * 10
    trainer = Trainer(model, optimizer="adamw", lr=3e-3, metrics=["accuracy"], verbose=0,
                      schedule=schedules.WarmupCosine(5, steps), run_dir=run_dir, checkpoint_every=4,
                      callbacks=[KillAt(kill_at)] if kill_at else [])
    val = None
    if "--keep-best" in sys.argv:  # "best" is the first epoch's weights, long before the kill
        trainer.callbacks.insert(0, KeepBest("val_loss", mode="max"))
        val = (x[:60], y[:60])
    hist = trainer.fit((x, y), epochs=3, batch_size=32, shuffle=True, seed=5, validation_data=val,
                       resume="--resume" in sys.argv)
    params = {k: v.flatten().tolist() for k, v in trainer.model.state_dict().items()}
    with open(out, "w") as f:
        json.dump({"history": hist.epochs, "params": params, "step": trainer.step}, f)


if __name__ == "__main__":
    main()
