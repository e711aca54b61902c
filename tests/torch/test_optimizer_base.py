"""The checks and helpers shared by stepsize's torch optimizers."""

import re

import pytest

torch = pytest.importorskip("torch")

from cases.torch_contract import each_optimizer  # noqa: E402
from stepsize.torch._optimizer_base import (  # noqa: E402
    amp_inputs,
    check_dense,
    check_fused_params,
    check_switches,
    fused_devices,
    is_plain,
    resolve_path,
    working_dtype,
)


@pytest.mark.parametrize(
    ("foreach", "fused", "expected"),
    [
        (None, None, "fused"),
        (None, True, "fused"),
        (False, True, "fused"),
        (True, None, "foreach"),
        (True, False, "foreach"),
        (None, False, "foreach"),
        (False, None, "loop"),
        (False, False, "loop"),
    ],
)
def test_switches_and_paths(foreach, fused, expected):
    assert check_switches(foreach, fused) == (foreach, fused)
    assert resolve_path(foreach, fused) == expected


@pytest.mark.parametrize(
    ("foreach", "fused", "error", "message"),
    [
        (True, True, ValueError, "foreach and fused must not both be True, got foreach=True"),
        ("yes", None, TypeError, "foreach must be True or False, got 'yes' (str)"),
        (None, 0, TypeError, "fused must be True or False, got 0 (int)"),
    ],
)
def test_switches_rejected(foreach, fused, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}"):
        check_switches(foreach, fused)


def test_check_fused_params():
    plain = [torch.nn.Parameter(torch.ones(2)), torch.ones(2, dtype=torch.bfloat16)]
    check_fused_params(plain, True)
    check_fused_params([torch.ones(2, dtype=torch.int64)], None)  # only fused=True checks
    with pytest.raises(ValueError, match=r"fused=True.*torch\.int64 on cpu"):
        check_fused_params([torch.ones(2, dtype=torch.int64)], True)
    assert "cpu" in fused_devices() and "cuda" in fused_devices()


def test_is_plain():
    assert is_plain(torch.ones(1)) and is_plain(torch.nn.Parameter(torch.ones(1)))

    class Sub(torch.Tensor):
        pass

    assert not is_plain(torch.ones(1).as_subclass(Sub))


def test_check_dense():
    check_dense(torch.ones(2), "Adam")
    with pytest.raises(RuntimeError, match="Adam does not support sparse gradients"):
        check_dense(torch.ones(2).to_sparse(), "Adam")


def test_amp_inputs():
    class Holder:
        pass

    holder = Holder()
    assert amp_inputs(holder) == (None, False)
    holder.grad_scale, holder.found_inf = torch.tensor(8.0), torch.tensor(0.0)
    scale, skip = amp_inputs(holder)
    assert scale.item() == 8.0 and skip is False
    holder.found_inf = torch.tensor(1.0)
    assert amp_inputs(holder)[1] is True


def test_working_dtype():
    assert working_dtype(torch.bfloat16) == torch.float32
    assert working_dtype(torch.float16) == torch.float32
    assert working_dtype(torch.float32) == torch.float32
    assert working_dtype(torch.float64) == torch.float64


@each_optimizer()
def test_train_and_eval_are_no_ops(info):
    # Schedule-free-aware loops call them around training and evaluation.
    runs = []
    for switch in (False, True):
        torch.manual_seed(0)
        params = [torch.nn.Parameter(torch.randn(3, 2)) for _ in range(2)]
        optimizer = info.make(params, "auto", **info.example)
        for _ in range(3):
            if switch:
                assert optimizer.train() is None
            for p in params:
                p.grad = torch.ones_like(p)
            optimizer.step()
            if switch:
                assert optimizer.eval() is None
        runs.append(([p.detach().clone() for p in params], optimizer.state_dict()))
    torch.testing.assert_close(runs[1], runs[0], rtol=0, atol=0)
