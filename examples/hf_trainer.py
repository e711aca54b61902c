"""transformers' Trainer with stepsize's AdamW over param_groups and a stepsize schedule.

    pip install stepsize[torch] transformers
    python examples/hf_trainer.py

A small GPT-2 built from a config (nothing is downloaded) learns the characters of a
standard-library module. ``param_groups`` leaves biases and norms out of weight decay and
gives each block its own lr (layer-wise decay); the scheduler keeps each group's lr as its base.
"""

import inspect
import tempfile
import textwrap

import torch
import transformers

from stepsize.torch import AdamW, get_cosine_schedule_with_warmup, param_groups

STEPS = 20


class Characters(torch.utils.data.Dataset):
    """Windows of 32 characters of textwrap.py; the labels are the inputs (a language model)."""

    def __init__(self, length: int = 32) -> None:
        codes = [min(ord(c), 127) for c in inspect.getsource(textwrap)]
        self.windows = [codes[i : i + length] for i in range(0, len(codes) - length, length)]

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        ids = torch.tensor(self.windows[index])
        return {"input_ids": ids, "labels": ids}


def main() -> None:
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=128, n_embd=32, n_layer=2, n_head=4, n_positions=32, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    model = transformers.GPT2LMHeadModel(config)

    optimizer = AdamW(param_groups(model, lr=3e-3, weight_decay=0.01, layer_decay=0.8))
    # follow_optimizer: the schedule counts the updates the optimizer applied.
    scheduler = get_cosine_schedule_with_warmup(
        optimizer, num_warmup_steps=3, num_training_steps=STEPS, follow_optimizer=True
    )
    with tempfile.TemporaryDirectory() as out:
        args = transformers.TrainingArguments(
            output_dir=out,
            max_steps=STEPS,
            per_device_train_batch_size=4,
            gradient_accumulation_steps=2,
            logging_steps=5,
            report_to=[],
            save_strategy="no",
            disable_tqdm=True,
        )
        trainer = transformers.Trainer(
            model=model,
            args=args,
            train_dataset=Characters(),
            optimizers=(optimizer, scheduler),
        )
        trainer.train()
    for entry in trainer.state.log_history:
        if "loss" in entry:
            print(
                f"step {entry['step']}: loss {entry['loss']:.3f}  lr {entry['learning_rate']:.2e}"
            )


if __name__ == "__main__":
    main()
