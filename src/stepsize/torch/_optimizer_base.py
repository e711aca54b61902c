"""The base class and small helpers shared by stepsize's torch optimizers.

Every optimizer derives from :class:`ClosureOptimizer` (one ``step``, validated param groups,
validated all-or-nothing ``load_state_dict``), checks its ``foreach`` / ``fused`` switches with
:func:`check_switches` and picks its path with :func:`resolve_path`, rejects sparse gradients
with :func:`check_dense`, and reads a ``torch.amp.GradScaler``'s inputs with
:func:`amp_inputs`. Hyper-parameters are checked with ``stepsize._validation``, within the
float32 bounds ``FLOAT32_TINY`` / ``FLOAT32_MAX`` where a step computes with them in float32.
The functions are stable: they only grow keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import torch

from .._validation import check_bool, check_optional
from ._state_validation import StateDescription, validated_state

__all__ = [
    "AUTO_FUSED_DEVICES",
    "COMMON_OPTIONS",
    "FLOAT32_MAX",
    "FLOAT32_TINY",
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

# float32's smallest normal and largest values. The math of float32, float16 and bfloat16
# parameters runs in float32: an eps below FLOAT32_TINY can vanish there (0/0 = NaN), a factor
# above FLOAT32_MAX becomes inf (inf·0 = NaN).
FLOAT32_TINY = float(torch.finfo(torch.float32).tiny)
FLOAT32_MAX = float(torch.finfo(torch.float32).max)


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

    Subclasses describe their state (``_state_description``: what ``load_state_dict``
    accepts), name the options a saved group may lack (``_kept_options``), whether they take
    complex parameters (``_takes_complex``), and implement ``_check_group`` (validate one param
    group's options, returning the normalized values) and ``_update`` (decorated with
    ``torch.compiler.disable``: inside ``torch.compile`` the update runs eagerly, a graph
    break, since its kernels are already fused and its per-step scalars are computed on the
    host).
    """

    _state_description: ClassVar[StateDescription]
    # Options older checkpoints (and transformers') lack: loading keeps this optimizer's values.
    _kept_options: ClassVar[tuple[str, ...]] = tuple(COMMON_OPTIONS)
    _takes_complex: ClassVar[bool] = False

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group; its options are validated like the defaults.

        Raises:
            TypeError: for an option of the wrong type, or a parameter that is not a
                floating-point tensor.
            ValueError: for an invalid option. Either way the optimizer is left unchanged.
        """
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            self._check_params(group["params"])
            group.update(self._check_group(group))
        except (TypeError, ValueError):
            self.param_groups.pop()
            raise

    def _check_params(self, params: list[torch.Tensor]) -> None:
        for index, p in enumerate(params):
            if not (p.is_floating_point() or (self._takes_complex and p.is_complex())):
                kind = "floating-point or complex" if self._takes_complex else "floating-point"
                raise TypeError(
                    f"params must be {kind} tensors, got a {p.dtype} tensor at index {index}"
                )

    @torch.compiler.disable
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict, checked first and applied all or nothing.

        It may come from this class's ``state_dict()`` or from transformers' optimizer of the
        same name. Checked: as many groups, of the same sizes, as this optimizer; each group's
        options, as by the constructor (options it lacks, such as ``foreach`` and ``fused``,
        keep this optimizer's values); and each parameter's state: every entry it needs and no
        other, ``step`` a whole number >= 0 (int, float or 0-d tensor), tensors of the shape
        the parameter needs, floating point and finite. Tensors are moved to each parameter's
        device and dtype (the optimizer's state dtype). Hooks registered with
        ``register_load_state_dict_pre_hook`` / ``_post_hook`` run as in torch.

        Raises:
            TypeError: for a value of the wrong type, naming where it is.
            ValueError: for anything that does not fit, naming the group and parameter
                index, e.g. "state of param_groups[0]['params'][1]: exp_avg has shape (3, 4),
                the parameter (3, 5)". A rejected state dict changes nothing.
        """
        state_dict = state_dict.copy() if isinstance(state_dict, dict) else state_dict
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        loaded = validated_state(
            self, state_dict, self._state_description, self._check_group, self._kept_options
        )
        self.__setstate__(loaded)
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # pickled before these options existed
            for key, value in COMMON_OPTIONS.items():
                group.setdefault(key, value)

    def train(self) -> None:
        """Switch to training mode: a no-op, as these optimizers keep no evaluation weights.

        Loops that support schedule-free optimizers (transformers' Trainer, accelerate) call
        ``optimizer.train()`` before training and ``optimizer.eval()`` before evaluating.
        """

    def eval(self) -> None:
        """Switch to evaluation mode: a no-op (see :meth:`train`)."""

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
