"""``StreamingAverage``, the rolling mean behind ``GreedyLR(smooth=True)``."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("torch")

from stepsize.torch import StreamingAverage


def test_streaming_average():
    avg = StreamingAverage(window_size=3)
    assert [avg.streamavg(v) for v in (1.0, 2.0, 3.0, 4.0, 8.0)] == [1.0, 1.5, 2.0, 3.0, 5.0]
    copy = StreamingAverage(window_size=1)
    copy.load_state_dict(avg.state_dict())
    assert (
        copy.state_dict()
        == avg.state_dict()
        == {
            "window_size": 3,
            "values": [3.0, 4.0, 8.0],
            "sum": 15.0,
        }
    )
    assert copy.streamavg(0.0) == avg.streamavg(0.0) == 4.0


def test_partial_state_keeps_window_size():
    avg = StreamingAverage(window_size=2)
    avg.load_state_dict({"values": [1.0, 3.0], "sum": 4.0})
    assert avg.window_size == 2
    assert avg.streamavg(5.0) == 4.0


@pytest.mark.parametrize(("window_size", "error"), [(0, ValueError), (2.0, TypeError)])
def test_window_size_is_an_integer_ge_1(window_size, error):
    message = f"window_size must be an integer{' >= 1' * (error is ValueError)}, got {window_size}"
    with pytest.raises(error, match=re.escape(message)):
        StreamingAverage(window_size)


@pytest.mark.parametrize(
    ("state", "error", "message"),
    [({"values": [1.0, float("nan")]}, ValueError,
      "state_dict['values'][1] must be a finite number, got nan"),
     ({"values": [1.0, 2.0, 3.0]}, ValueError,
      "state_dict['values'] must hold at most window_size=2 values, got 3"),
     ({"values": "1.0"}, TypeError, "state_dict['values'] must be a list or tuple"),
     ({"window_size": 0}, ValueError, "state_dict['window_size'] must be an integer >= 1, got 0"),
     ({"sum": float("nan")}, ValueError, "state_dict['sum'] must be a number, got nan"),
     ({"sum": "4"}, TypeError, "state_dict['sum'] must be a real number"),
     ({"mean": 1.0}, ValueError, "state_dict must hold only the keys window_size, values, sum"),
     ([1.0], TypeError, "state_dict must be a dict, got [1.0] (list)")],
)  # fmt: skip
def test_rejected_load_changes_nothing(state, error, message):
    avg = StreamingAverage(window_size=2)
    avg.streamavg(5.0)
    with pytest.raises(error, match=re.escape(message)):
        avg.load_state_dict(state)
    assert avg.state_dict() == {"window_size": 2, "values": [5.0], "sum": 5.0}


def test_missing_sum_is_the_values_sum():
    avg = StreamingAverage(window_size=3)
    avg.load_state_dict({"values": [1.0, 2.0]})
    assert avg.sum == 3.0
