"""Optimizer configurations and error inputs shared by every torch optimizer test."""

# ---- AdamW ----------------------------------------------------------------------------------

# Every combination of the options, lr <= 1e-2 (SPEC 5.1). The second parameter group of the
# differential tests overrides lr, betas, weight_decay and correct_bias (ADAMW_SECOND_GROUP).
ADAMW_CONFIGS: dict[str, dict] = {
    f"bias{int(correct_bias)}-wd{weight_decay}-{betas_name}": {
        "lr": 1e-2,
        "betas": betas,
        "eps": eps,
        "weight_decay": weight_decay,
        "correct_bias": correct_bias,
    }
    for correct_bias in (True, False)
    for weight_decay in (0.0, 0.1)
    for betas_name, betas, eps in (
        ("default", (0.9, 0.999), 1e-6),
        ("low", (0.5, 0.9), 1e-8),
        ("zero", (0.0, 0.0), 1e-3),
    )
}


def adamw_second_group(config: dict) -> dict:
    """Hyper-parameters of a second param group that differ from ``config`` in every option."""
    return {
        "lr": config["lr"] / 2,
        "betas": (0.8, 0.99),
        "weight_decay": 0.05 if config["weight_decay"] == 0.0 else 0.0,
        "correct_bias": not config["correct_bias"],
    }


# The implementations a user can ask for, by name -> the switches that select them.
ADAMW_PATHS: dict[str, dict] = {
    "auto": {},
    "loop": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
}

# Constructor keyword arguments -> (exception, pattern its message must match).
ADAMW_ERROR_INPUTS: list[tuple[dict, type[Exception], str]] = [
    ({"lr": -1e-3}, ValueError, r"lr: -0\.001"),
    ({"lr": float("nan")}, ValueError, r"lr: nan"),
    ({"lr": float("inf")}, ValueError, r"lr: inf - should be finite"),
    ({"lr": "fast"}, ValueError, r"lr: 'fast'"),
    ({"betas": (1.0, 0.999)}, ValueError, r"betas\[0\]: 1\.0"),
    ({"betas": (-0.1, 0.999)}, ValueError, r"betas\[0\]: -0\.1"),
    ({"betas": (0.9, 1.0)}, ValueError, r"betas\[1\]: 1\.0"),
    ({"betas": (0.9, 1.5)}, ValueError, r"betas\[1\]: 1\.5"),
    ({"betas": (0.9,)}, ValueError, r"betas: \(0\.9,\)"),
    ({"betas": 0.9}, ValueError, r"betas: 0\.9"),
    ({"eps": -1e-8}, ValueError, r"eps: -1e-08"),
    ({"weight_decay": -0.01}, ValueError, r"weight_decay: -0\.01"),
    ({"foreach": True, "fused": True}, ValueError, r"foreach=True with fused=True"),
    ({"foreach": "yes"}, ValueError, r"foreach: 'yes'"),
    ({"fused": 1}, ValueError, r"fused: 1"),
]

# ---- Adafactor ------------------------------------------------------------------------------

# Every combination of the options (SPEC 3.3): how the lr is set (relative step, with warmup,
# or a manual lr <= 1e-2), scale_parameter, beta1, clip_threshold with decay_rate, and
# weight_decay; plus non-default eps. The second parameter group of the differential tests
# overrides the options that may differ per group (adafactor_second_group).
_ADAFACTOR_LR_MODES: dict[str, dict] = {
    "relative": {"lr": None, "relative_step": True, "warmup_init": False},
    "warmup": {"lr": None, "relative_step": True, "warmup_init": True},
    "manual": {"lr": 1e-2, "relative_step": False, "warmup_init": False},
}
ADAFACTOR_CONFIGS: dict[str, dict] = {
    f"{mode}-scale{int(scale)}-beta1{beta1}-clip{clip}-wd{weight_decay}": {
        **lr_mode,
        "scale_parameter": scale,
        "beta1": beta1,
        "clip_threshold": clip,
        "decay_rate": decay_rate,
        "weight_decay": weight_decay,
    }
    for mode, lr_mode in _ADAFACTOR_LR_MODES.items()
    for scale in (True, False)
    for beta1 in (None, 0.9)
    for clip, decay_rate in ((1.0, -0.8), (0.5, -0.5))
    for weight_decay in (0.0, 0.1)
}
ADAFACTOR_CONFIGS["eps"] = {"eps": (1e-20, 1e-2), "clip_threshold": 2.0}


def adafactor_second_group(config: dict) -> dict:
    """Hyper-parameters of a second param group that differ from ``config`` where they may."""
    return {
        "beta1": 0.5 if config.get("beta1") is None else None,
        "weight_decay": 0.05 if config.get("weight_decay", 0.0) == 0.0 else 0.0,
        "scale_parameter": not config.get("scale_parameter", True),
        "clip_threshold": 0.7,
    }


# The implementations a user can ask for, by name -> the switches that select them.
ADAFACTOR_PATHS: dict[str, dict] = {
    "auto": {},
    "loop": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
}

# Constructor keyword arguments -> (exception, pattern its message must match).
ADAFACTOR_ERROR_INPUTS: list[tuple[dict, type[Exception], str]] = [
    ({"lr": 1e-3}, ValueError, r"Cannot combine manual `lr` and `relative_step=True`"),
    (
        {"lr": 1e-3, "relative_step": False, "warmup_init": True},
        ValueError,
        r"`warmup_init=True` requires `relative_step=True`",
    ),
    ({"relative_step": False}, ValueError, r"lr: None"),
    ({"lr": -1e-3, "relative_step": False}, ValueError, r"lr: -0\.001"),
    ({"lr": float("nan"), "relative_step": False}, ValueError, r"lr: nan"),
    ({"lr": float("inf"), "relative_step": False}, ValueError, r"lr: inf"),
    ({"lr": "fast", "relative_step": False}, ValueError, r"lr: 'fast'"),
    ({"eps": 1e-30}, ValueError, r"eps: 1e-30"),
    ({"eps": (1e-30,)}, ValueError, r"eps: \(1e-30,\)"),
    ({"eps": (0.0, 1e-3)}, ValueError, r"eps\[0\]: 0\.0"),
    ({"eps": (-1e-30, 1e-3)}, ValueError, r"eps\[0\]: -1e-30"),
    ({"eps": (1e-30, -1e-3)}, ValueError, r"eps\[1\]: -0\.001"),
    ({"eps": (1e-30, "x")}, ValueError, r"eps\[1\]: 'x'"),
    ({"clip_threshold": 0.0}, ValueError, r"clip_threshold: 0\.0"),
    ({"clip_threshold": -1.0}, ValueError, r"clip_threshold: -1\.0"),
    ({"decay_rate": 0.5}, ValueError, r"decay_rate: 0\.5"),
    ({"decay_rate": float("-inf")}, ValueError, r"decay_rate: -inf"),
    ({"beta1": 1.0}, ValueError, r"beta1: 1\.0"),
    ({"beta1": -0.1}, ValueError, r"beta1: -0\.1"),
    ({"weight_decay": -0.01}, ValueError, r"weight_decay: -0\.01"),
    ({"weight_decay": float("inf")}, ValueError, r"weight_decay: inf"),
    ({"foreach": True, "fused": True}, ValueError, r"foreach=True with fused=True"),
    ({"foreach": "yes"}, ValueError, r"foreach: 'yes'"),
    ({"fused": 1}, ValueError, r"fused: 1"),
]

# Parameter shapes of the Adafactor tests: 0-d and 1-D (unfactored), 2-D, and 3-D/4-D
# (factored over the last two dims, the leading ones batched).
ADAFACTOR_SHAPES: tuple[tuple[int, ...], ...] = ((), (6,), (5, 7), (3, 4, 6), (2, 3, 5, 4))


# ---- Shared by every optimizer --------------------------------------------------------------


def train_tiny_model(make_optimizer, *, compile_model=False, compile_step=False, steps=4):
    """Trains a small MLP for ``steps`` steps and returns copies of its parameters.

    ``make_optimizer(params)`` builds the optimizer. ``compile_model`` / ``compile_step`` wrap
    the model / the whole training step in ``torch.compile`` (the aot_eager backend, which
    needs no C++ compiler).
    """
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    optimizer = make_optimizer(model.parameters())
    forward = torch.compile(model, backend="aot_eager") if compile_model else model
    x, y = torch.randn(16, 4), torch.randn(16, 1)

    def step():
        torch.nn.functional.mse_loss(forward(x), y).backward()
        optimizer.step()
        optimizer.zero_grad()

    if compile_step:
        step = torch.compile(step, backend="aot_eager")
    for _ in range(steps):
        step()
    return [p.detach().clone() for p in model.parameters()]
