"""``param_groups``: the fine-tuning param groups — no weight decay on biases and norms,
optionally layer-wise lr decay — for any torch optimizer."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import torch

from stepsize._validation import check_instance, check_optional, check_real, describe

__all__ = ["default_no_decay", "param_groups"]

# Names of normalization parameters in models that write their own norm modules; transformers
# 5's Trainer skips these patterns too.
_NORM_NAME = re.compile(r"layernorm|layer_norm|rmsnorm|(?:^|\.|_)norm(?:$|\.|_|\d)")
_NORM_TYPES = (
    torch.nn.LayerNorm,
    torch.nn.GroupNorm,
    torch.nn.modules.batchnorm._NormBase,  # BatchNorm*d, InstanceNorm*d, SyncBatchNorm
    torch.nn.LocalResponseNorm,
    *((torch.nn.RMSNorm,) if hasattr(torch.nn, "RMSNorm") else ()),
)
# The i-th transformer block: BERT's `layer.i`, Llama's `layers.i`, GPT-2's `h.i`, T5's `block.i`.
_BLOCK = re.compile(r"(?:^|\.)(?:layer|layers|h|block)\.(\d+)\.")

NoDecay = Callable[[str, torch.nn.Module], bool]


def default_no_decay(name: str, module: torch.nn.Module) -> bool:
    """The default rule of :func:`param_groups`: whether parameter ``name`` gets no weight decay.

    True for every bias (a full name containing ``"bias"``) and for the parameters of
    normalization layers: torch's LayerNorm, RMSNorm, GroupNorm, BatchNorm and InstanceNorm,
    any module whose class name ends in ``Norm`` (``LlamaRMSNorm``, ``T5LayerNorm``), and names
    that say norm (``layernorm``, ``layer_norm``, ``rmsnorm``, ``norm``, ``ln_f``-style ``_norm``).
    This excludes everything transformers' ``Trainer.get_decay_parameter_names`` excludes
    (4.x: biases and ``nn.LayerNorm``; 5.x: also norm names), and more: the weights of
    hand-written norm classes, which Trainer 4.x decays.

    Args:
        name: the parameter's full name, as ``model.named_parameters()`` gives it.
        module: the module that holds the parameter directly.

    Example:
        >>> default_no_decay("encoder.layer.0.output.LayerNorm.weight", torch.nn.LayerNorm(4))
        True
        >>> default_no_decay("encoder.layer.0.output.dense.weight", torch.nn.Linear(4, 4))
        False
    """
    lowered = name.lower()
    return (
        "bias" in lowered
        or isinstance(module, _NORM_TYPES)
        or type(module).__name__.lower().endswith("norm")
        or _NORM_NAME.search(lowered) is not None
    )


def param_groups(
    model: torch.nn.Module,
    *,
    lr: float | None = None,
    weight_decay: float = 0.0,
    no_decay: NoDecay | Sequence[str] = default_no_decay,
    layer_decay: float | None = None,
) -> list[dict[str, Any]]:
    """Param groups for any torch optimizer: weight decay where it belongs, per-layer lrs.

    Every trainable parameter (``requires_grad``) is in exactly one group; a weight tied to
    another (GPT-2's ``lm_head`` and ``wte``) is one parameter, counted once under its first
    name. Parameters ``no_decay`` selects get ``weight_decay=0.0``, the others
    ``weight_decay``. With ``layer_decay`` the lr shrinks towards the input, layer by layer:
    the embeddings are layer 0, the i-th block (a name with ``.layer.i.``, ``.layers.i.``,
    ``.h.i.`` or ``.block.i.``, counting from 0) is layer i + 1, and everything else (final
    norm, pooler, head) is layer L + 1, L being the number of blocks; a parameter's lr is
    ``lr · layer_decay ** (L + 1 - layer)``. An encoder-decoder's i-th encoder and decoder
    blocks share layer i + 1. Parameters with equal hyper-parameters share one group, in the
    order of ``model.named_parameters()``. Schedulers keep each group's own lr as its base lr.

    Args:
        model: the model whose parameters to group.
        lr: the lr of every group (the top layer's with ``layer_decay``); None: groups carry
            no lr and the optimizer's default applies.
        weight_decay: the decay of the parameters that are decayed (>= 0).
        no_decay: which parameters get no decay: a function ``(full name, module holding the
            parameter) -> bool`` (default :func:`default_no_decay`), or a list of name
            substrings, e.g. ``["bias", "LayerNorm.weight"]`` (``[]``: decay everything).
        layer_decay: the per-layer lr factor in (0, 1], or None for one lr.

    Returns:
        A list of dicts with ``"params"``, ``"weight_decay"`` and (with ``lr``) ``"lr"``.

    Raises:
        TypeError: if ``model`` is not a module, a number is not a real number or
            ``no_decay`` is neither a function nor a list of strings.
        ValueError: if a number is out of range, or ``layer_decay`` is given without ``lr``.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
        >>> groups = param_groups(model, lr=1e-3, weight_decay=0.01)
        >>> [(len(g["params"]), g["weight_decay"], g["lr"]) for g in groups]
        [(1, 0.01, 0.001), (3, 0.0, 0.001)]
        >>> optimizer = torch.optim.AdamW(groups)
    """
    check_instance("model", model, torch.nn.Module, "a torch.nn.Module")
    lr = check_optional(check_real, "lr", lr, low=0.0)
    weight_decay = check_real("weight_decay", weight_decay, low=0.0)
    layer_decay = check_optional(
        check_real, "layer_decay", layer_decay, low=0.0, high=1.0, low_open=True
    )
    if layer_decay is not None and lr is None:
        raise ValueError(f"layer_decay needs lr, got layer_decay={layer_decay} and lr=None")
    skips_decay = _no_decay_rule(no_decay)

    named = _named_parameters(model)
    layers = [_layer(name, module) for name, module, _ in named]
    top = max((layer for layer in layers if layer is not None), default=0) + 1  # L + 1
    groups: dict[tuple[float, float | None], dict[str, Any]] = {}
    for (name, module, parameter), layer in zip(named, layers, strict=True):
        decay = 0.0 if skips_decay(name, module) else weight_decay
        group_lr = lr
        if layer_decay is not None and lr is not None:
            group_lr = lr * layer_decay ** (top - (top if layer is None else layer))
        key = (decay, group_lr)
        if key not in groups:
            groups[key] = {"params": [], "weight_decay": decay}
            if group_lr is not None:
                groups[key]["lr"] = group_lr
        groups[key]["params"].append(parameter)
    return list(groups.values())


def _no_decay_rule(no_decay: Any) -> NoDecay:
    if callable(no_decay):
        return no_decay
    if not isinstance(no_decay, list | tuple):
        raise TypeError(
            "no_decay must be a function (name, module) -> bool or a list of name substrings, "
            f"got {describe(no_decay)} ({type(no_decay).__name__})"
        )
    substrings = [
        check_instance(f"no_decay[{i}]", item, str, "a string") for i, item in enumerate(no_decay)
    ]
    return lambda name, module: any(substring in name for substring in substrings)


def _named_parameters(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module, Any]]:
    # named_parameters()'s names and order (shared parameters once, under their first name),
    # with the module that holds each one.
    seen: set[int] = set()
    found = []
    for prefix, module in model.named_modules():
        for local, parameter in module.named_parameters(recurse=False):
            if id(parameter) in seen:
                continue
            seen.add(id(parameter))
            if parameter.requires_grad:
                found.append((f"{prefix}.{local}" if prefix else local, module, parameter))
    return found


def _layer(name: str, module: torch.nn.Module) -> int | None:
    """Embeddings 0, the i-th block i + 1, None for the rest (the top: L + 1)."""
    block = _BLOCK.search(name)
    if block is not None:
        return int(block.group(1)) + 1
    if isinstance(module, torch.nn.Embedding) or "embed" in name.lower():
        return 0
    return None
