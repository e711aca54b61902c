"""``SchedulerRow``: one row of the table of transformers' ``get_*`` functions, and how a row
becomes the function: transformers' exact signature, a docstring with a runnable example, and
a body that builds the row's schedule and wraps it in a ``ScheduledLR``.
"""

from __future__ import annotations

import dataclasses
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

from torch.optim import Optimizer

from stepsize import schedules
from stepsize._validation import check_instance
from stepsize.torch._scheduled_lr import ScheduledLR

__all__ = ["SCHEDULED_LR_KEYWORDS", "Hook", "SchedulerRow"]

# Keyword-only parameters every function takes after transformers' own; each is passed on to
# ScheduledLR (as last_epoch is), so a new ScheduledLR option is one more entry here.
SCHEDULED_LR_KEYWORDS: tuple[inspect.Parameter, ...] = (
    inspect.Parameter(
        "follow_optimizer", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=bool
    ),
)

# Turns the function's arguments (without optimizer and last_epoch) into the schedule's.
Hook = Callable[[Optimizer, dict[str, Any]], dict[str, Any]]

_DOCSTRING = """{summary}

Args:
    optimizer: the optimizer; its param groups' lrs are the peak lrs.
{arguments}
    last_epoch: the index of the last step when resuming; -1 to start.
    follow_optimizer: count the updates the optimizer applies instead of ``step()`` calls
        (see ``ScheduledLR``); False: transformers' behaviour.

Returns:
    A ``ScheduledLR`` over the ``stepsize.schedules`` schedule ``"{schedule}"``.

Raises:
    TypeError: for an argument of the wrong type (the message names it).
    ValueError: for an argument with a bad value (the message names it){raises}.

Example:
    >>> import torch
    >>> optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    >>> scheduler = {function}(optimizer{call})
    >>> lrs = []
    >>> for _ in range(6):
    ...     lrs.append(round(scheduler.get_last_lr()[0], 4))
    ...     optimizer.step()
    ...     scheduler.step()
    >>> lrs
    {lrs}
"""


@dataclasses.dataclass(frozen=True)
class SchedulerRow:
    """A transformers ``get_*`` function: its name, schedule, parameters and documentation.

    Attributes:
        function: transformers' name of the function, and ours.
        schedule: the ``stepsize.schedules`` name of the schedule it builds.
        parameters: transformers' parameters after ``optimizer``, in order, each
            ``(name, annotation)`` or ``(name, annotation, default)``.
        summary: the docstring's first paragraph.
        arguments: the docstring's Args lines, besides ``optimizer`` and ``last_epoch``.
        example_call: the example's arguments after the optimizer.
        example_lrs: the lrs the example prints, at steps 0 to 5 with lr 1.
        hook: turns the arguments into the schedule's, where the function sees more than the
            schedule (the optimizer's lr, transformers' own argument rules); None: as given.
        raises: what else raises ``ValueError``, appended to the docstring's line.
    """

    function: str
    schedule: str
    parameters: tuple[tuple[Any, ...], ...]
    summary: str
    arguments: str
    example_call: str
    example_lrs: str
    hook: Hook | None = None
    raises: str = ""

    def signature(self) -> inspect.Signature:
        """``optimizer``, transformers' parameters, then ``SCHEDULED_LR_KEYWORDS``."""
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        parameters = [inspect.Parameter("optimizer", kind, annotation=Optimizer)]
        for name, annotation, *default in self.parameters:
            given = {"default": default[0]} if default else {}
            parameters.append(inspect.Parameter(name, kind, annotation=annotation, **given))
        return inspect.Signature(
            [*parameters, *SCHEDULED_LR_KEYWORDS], return_annotation=ScheduledLR
        )

    def docstring(self) -> str:
        """The function's docstring: Args, Returns, Raises and a runnable example."""
        return _DOCSTRING.format(
            summary=self.summary,
            arguments=textwrap.indent(self.arguments, "    "),
            schedule=self.schedule,
            raises=self.raises,
            function=self.function,
            call=f", {self.example_call}" if self.example_call else "",
            lrs=self.example_lrs,
        )

    def build(self, module: str) -> Callable[..., ScheduledLR]:
        """The function, named ``self.function`` in ``module`` (where it must be assigned)."""
        signature = self.signature()
        passed_on = ("last_epoch", *(parameter.name for parameter in SCHEDULED_LR_KEYWORDS))

        def function(*args: Any, **kwargs: Any) -> ScheduledLR:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as error:  # name the function, as Python's own message does
                raise TypeError(f"{self.function}() {error}") from None
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            optimizer = check_instance(
                "optimizer", arguments.pop("optimizer"), Optimizer, "a torch.optim.Optimizer"
            )
            options = {name: arguments.pop(name) for name in passed_on}
            if self.hook is not None:
                arguments = self.hook(optimizer, arguments)
            return ScheduledLR(optimizer, schedules.get(self.schedule, **arguments), **options)

        function.__signature__ = signature  # type: ignore[attr-defined]
        function.__name__ = function.__qualname__ = self.function
        function.__module__ = module
        function.__doc__ = self.docstring()
        return function
