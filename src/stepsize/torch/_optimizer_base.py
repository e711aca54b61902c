"""The base class and small helpers shared by stepsize's torch optimizers.

Every optimizer derives from :class:`ClosureOptimizer` (one ``step``, validated param groups),
checks its ``foreach`` / ``fused`` switches with :func:`check_switches` and picks its path with
:func:`resolve_path`, rejects sparse gradients with :func:`check_dense`, and reads a
``torch.amp.GradScaler``'s inputs with :func:`amp_inputs`. Hyper-parameters are checked with
``stepsize._validation``. The functions are stable: they only grow keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch

from .._validation import check_bool, check_optional

__all__ = [
    "AUTO_FUSED_DEVICES",
    "COMMON_OPTIONS",
    "LOW_PRECISION",
    "ClosureOptimizer",
    "Path",
    "amp_inputs",
    "check_dense",
    "check_fused_params",
    "check_switches",
    "fused_devices",
    "is_plain",
    "resolve_path",
    "working_dtype",
]

Path = Literal["fused", "foreach", "loop"]

# Devices where the automatic choice uses torch's fused kernels. ``fused=True`` accepts every
# device torch lists for its fused optimizers (see ``fused_devices``).
AUTO_FUSED_DEVICES = ("cpu", "cuda")

LOW_PRECISION = (torch.float16, torch.bfloat16)

# Options every optimizer has, with their defaults (older pickles and state dicts lack some).
COMMON_OPTIONS: dict[str, Any] = {
    "foreach": None,
    "fused": None,
    "kahan_sum": None,
    "stochastic_round": False,
    "seed": None,
}


def check_switches(foreach: Any, fused: Any) -> tuple[bool | None, bool | None]:
    """Validate torch-style ``foreach`` / ``fused`` switches (None, True or False).

    Returns:
        The switches, as given.

    Raises:
        TypeError: if a switch is not None or a bool.
        ValueError: if both are True.

    Example:
        >>> check_switches(None, True)
        (None, True)
    """
    foreach = check_optional(check_bool, "foreach", foreach)
    fused = check_optional(check_bool, "fused", fused)
    if foreach and fused:
        raise ValueError("foreach and fused must not both be True, got foreach=True, fused=True")
    return foreach, fused


def resolve_path(foreach: bool | None, fused: bool | None) -> Path:
    """The implementation a param group asks for.

    ``fused=True`` or both None (the default): torch's fused kernel where it applies, the
    multi-tensor path elsewhere. ``foreach=True`` or ``fused=False``: the multi-tensor path.
    ``foreach=False``: the single-tensor reference loop.
    """
    if fused or (fused is None and foreach is None):
        return "fused"
    if foreach is False:
        return "loop"
    return "foreach"


def fused_devices() -> list[str]:
    """Device types torch lists as having fused optimizer kernels."""
    return ["mps", "cuda", "xpu", "hpu", "cpu", "mtia", torch._C._get_privateuse1_backend_name()]


def is_plain(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` is a plain (or Parameter) tensor, not a subclass such as DTensor."""
    return type(tensor) in (torch.Tensor, torch.nn.Parameter)


def check_fused_params(params: list[torch.Tensor], fused: bool | None) -> None:
    """With ``fused=True``, every parameter must be a floating-point tensor on a fused device.

    (Tensor subclasses such as DTensor pass; optimizers run them on another path.)

    Raises:
        ValueError: naming the first parameter's dtype and device that cannot use the kernel.
    """
    if not fused:
        return
    devices = fused_devices()
    for p in params:
        if not (torch.is_floating_point(p) and p.device.type in devices):
            raise ValueError(
                f"Invalid fused=True: it needs floating-point tensors on {devices}, "
                f"got {p.dtype} on {p.device.type}"
            )


def check_dense(grad: torch.Tensor, optimizer: str) -> None:
    """Raise RuntimeError for a sparse gradient, which these optimizers do not support."""
    if grad.is_sparse:
        raise RuntimeError(
            f"{optimizer} does not support sparse gradients, please consider SparseAdam instead"
        )


def amp_inputs(optimizer: torch.optim.Optimizer) -> tuple[torch.Tensor | None, bool]:
    """The ``torch.amp.GradScaler`` inputs of this step: (grad_scale, skip).

    An optimizer with ``_step_supports_amp_scaling = True`` receives ``grad_scale`` (the
    factor to divide gradients by, None once they are unscaled) and ``found_inf`` as
    attributes from ``GradScaler.step``. ``skip`` is True when the scaler found inf/NaN
    gradients: the step must leave parameters and state untouched. Reading ``found_inf``
    synchronizes with the device once per step, as GradScaler's generic path does.
    """
    grad_scale = getattr(optimizer, "grad_scale", None)
    found_inf = getattr(optimizer, "found_inf", None)
    skip = found_inf is not None and bool(found_inf.item() != 0)
    return grad_scale, skip


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the math runs in: float32 for float16/bfloat16, else the dtype itself."""
    return torch.float32 if dtype in LOW_PRECISION else dtype


class ClosureOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` whose ``step`` runs the closure, then ``_update()``.

    Subclasses implement ``_check_group`` (validate one param group's options, returning the
    normalized values) and ``_update`` (decorated with ``torch.compiler.disable``: inside
    ``torch.compile`` the update runs eagerly, a graph break, since its kernels are already
    fused and its per-step scalars are computed on the host).
    """

    # Options a loaded param group keeps from this optimizer when the state dict lacks them.
    _kept_options: tuple[str, ...] = tuple(COMMON_OPTIONS)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group; its options are validated like the defaults.

        Raises:
            TypeError, ValueError: for an invalid option; the optimizer is left unchanged.
        """
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            group.update(self._check_group(group))
        except (TypeError, ValueError):
            self.param_groups.pop()
            raise

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # pickled before these options existed
            for key, value in COMMON_OPTIONS.items():
                group.setdefault(key, value)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict; options a saved group lacks (saved before they existed, or by
        transformers) keep this optimizer's values."""
        groups = [dict(group) for group in state_dict["param_groups"]]
        for group, current in zip(groups, self.param_groups, strict=False):
            for key in self._kept_options:
                group.setdefault(key, current[key])
        super().load_state_dict({**state_dict, "param_groups": groups})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step.

        Args:
            closure: re-evaluates the model and returns the loss (run with gradients on).

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._update()
        return loss

    def _check_group(self, group: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _update(self) -> None:
        raise NotImplementedError
