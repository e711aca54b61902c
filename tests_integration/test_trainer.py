"""stepsize in transformers' ``Trainer`` (the current release): optimizers, schedules, resume.

A tiny GPT-2 built from a config trains on an in-memory dataset on the CPU. A callback records
the lrs of every param group right before each optimizer update, so each test compares what
the updates really used with the schedule at the update's index, and the Trainer's own log.
"""

from __future__ import annotations

import math

import pytest
import torch
import transformers

from cases.closeness import assert_close
from cases.hf_models import MODELS, make_model
from stepsize import schedules
from stepsize.torch import (
    Adafactor,
    AdafactorSchedule,
    AdamW,
    get_cosine_schedule_with_warmup,
    param_groups,
)

STEPS = 6
BATCH = 4
LR = 1e-3


class _Dataset(torch.utils.data.Dataset):
    """Fixed token sequences of 8, the labels the inputs (a language-model task)."""

    def __init__(self, rows: int = 64) -> None:
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, 64, (rows, 8), generator=generator)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[index], "labels": self.ids[index]}


class _RecordLrs(transformers.TrainerCallback):
    """Each update's lrs, one per param group, read just before ``optimizer.step()``."""

    def __init__(self) -> None:
        self.lrs: list[list[float]] = []
        self.rms: list[float] = []  # the first parameter's RMS before the update

    def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        self.lrs.append([float(group["lr"] or 0.0) for group in optimizer.param_groups])
        first = optimizer.param_groups[0]["params"][0]
        self.rms.append(float(first.detach().norm() / math.sqrt(first.numel())))


def _train(tmp_path, model, *, resume=None, callback=None, **arguments):
    callback = callback or _RecordLrs()
    defaults = {
        "output_dir": str(tmp_path),
        "per_device_train_batch_size": BATCH,
        "max_steps": STEPS,
        "logging_steps": 1,
        "report_to": [],
        "use_cpu": True,
        "save_strategy": "no",
        "disable_tqdm": True,
        "seed": 0,
        "learning_rate": LR,
    }
    args = transformers.TrainingArguments(**{**defaults, **arguments.pop("args", {})})
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=_Dataset(), callbacks=[callback], **arguments
    )
    trainer.train(resume_from_checkpoint=resume)
    logged = [entry["learning_rate"] for entry in trainer.state.log_history if "loss" in entry]
    return trainer, callback, logged


def _stepsize_optimizers(model, follow: bool):
    optimizer = AdamW(param_groups(model, lr=LR, weight_decay=0.01, layer_decay=0.8))
    scheduler = get_cosine_schedule_with_warmup(
        optimizer, num_warmup_steps=2, num_training_steps=STEPS, follow_optimizer=follow
    )
    return optimizer, scheduler


def _expected(base_lrs, name="cosine"):
    schedule = schedules.get(name, num_warmup_steps=2, num_training_steps=STEPS)
    return [[base * schedule(k) for base in base_lrs] for k in range(STEPS)]


@pytest.mark.parametrize("accumulation", [1, 2])
@pytest.mark.parametrize("follow", [False, True])
def test_updates_and_log_follow_the_schedule(tmp_path, accumulation, follow):
    model = make_model("gpt2")
    optimizer, scheduler = _stepsize_optimizers(model, follow)
    base = list(scheduler.base_lrs)
    assert len(set(base)) == 4  # embeddings, 2 blocks, the top
    _, callback, logged = _train(
        tmp_path,
        model,
        optimizers=(optimizer, scheduler),
        args={"gradient_accumulation_steps": accumulation},
    )
    expected = _expected(base)
    assert callback.lrs == [pytest.approx(lrs) for lrs in expected]
    # transformers 5 logs the lr the update used: the first group's.
    assert logged == pytest.approx([lrs[0] for lrs in expected])
    assert scheduler.last_epoch == STEPS


def test_optimizer_cls_and_kwargs(tmp_path):
    model = make_model("gpt2")
    groups = param_groups(model, weight_decay=0.01)
    _, callback, logged = _train(
        tmp_path,
        model,
        optimizer_cls_and_kwargs=(AdamW, {"params": groups, "lr": LR}),
        args={"lr_scheduler_type": "linear", "warmup_steps": 2},
    )
    expected = _expected([LR], "linear")
    assert logged == pytest.approx([lrs[0] for lrs in expected])
    assert callback.lrs == [pytest.approx([lrs[0]] * len(groups)) for lrs in expected]


def test_checkpoint_resume_equals_the_uninterrupted_run(tmp_path):
    saving = {"save_strategy": "steps", "save_steps": 3}
    model = make_model("gpt2")
    trainer, full, _ = _train(
        tmp_path / "full", model, optimizers=_stepsize_optimizers(model, True), args=saving
    )
    uninterrupted = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}

    model = make_model("gpt2", seed=1)  # other weights: the checkpoint must restore them
    checkpoint = tmp_path / "full" / "checkpoint-3"
    trainer, resumed, _ = _train(
        tmp_path / "resumed",
        model,
        optimizers=_stepsize_optimizers(model, True),
        resume=str(checkpoint),
        args=saving,
    )
    assert resumed.lrs == full.lrs[3:]
    assert trainer.lr_scheduler.last_epoch == STEPS
    for name, p in trainer.model.named_parameters():
        assert_close(p, uninterrupted[name], torch.float32, what=name)


def test_adafactor_schedule_logs_the_lr_each_update_used(tmp_path):
    model = make_model("gpt2")
    optimizer = Adafactor(model.parameters(), lr=None, relative_step=True, warmup_init=False)
    _, callback, logged = _train(
        tmp_path, model, optimizers=(optimizer, AdafactorSchedule(optimizer))
    )
    # Adafactor's relative step: min(1e-2, 1/sqrt(t)) · max(eps2, RMS(p) before update t).
    expected = [
        min(1e-2, 1 / math.sqrt(t)) * max(1e-3, rms) for t, rms in enumerate(callback.rms, 1)
    ]
    assert all(lr > 0 for lr in logged)
    assert logged == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_param_groups_leave_out_what_trainer_leaves_out(name):
    model = make_model(name)
    # The method reads nothing of the Trainer: call it without building one.
    decayed_by_trainer = set(transformers.Trainer.get_decay_parameter_names(None, model))
    groups = param_groups(model, weight_decay=0.1)
    undecayed = {id(p) for group in groups if group["weight_decay"] == 0.0 for p in group["params"]}
    for parameter_name, parameter in model.named_parameters():
        if parameter_name not in decayed_by_trainer:
            assert id(parameter) in undecayed, parameter_name
