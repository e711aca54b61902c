"""``inverse_sqrt``."""

import math
import warnings

import numpy as np

from cases.schedules import (
    close,
)
from stepsize import schedules


def test_default_timescale_is_the_warmup_or_ten_thousand():
    assert schedules.get("inverse_sqrt", num_warmup_steps=7).effective_timescale == 7
    s = schedules.get("inverse_sqrt", num_warmup_steps=0)
    assert s.effective_timescale == 10_000 and s.timescale is None
    for t in (0, 1, 30_000, 10**7):
        assert close(s(t), 1 / math.sqrt((t + 10_000) / 10_000))


def test_a_timescale_below_the_warmup_keeps_every_branch_finite():
    s = schedules.get("inverse_sqrt", num_warmup_steps=16, timescale=1)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        values = s.values(range(40))
    assert values.tolist() == [s(t) for t in range(40)]
    assert [s(t) for t in (0, 8, 16, 19)] == [0.0, 0.5, 1.0, 0.5]
