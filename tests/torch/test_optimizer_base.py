"""The checks and helpers shared by stepsize's torch optimizers."""

import pytest

torch = pytest.importorskip("torch")

from stepsize.torch._optimizer_base import (  # noqa: E402
    amp_inputs,
    check_dense,
    check_fused_params,
    check_range,
    check_switches,
    fused_devices,
    is_plain,
    resolve_path,
    working_dtype,
)


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("lr", 0), {}, 0.0),
        (("lr", 1e-3), {}, 1e-3),
        (("beta", 0.0, 0.0, 1.0), {}, 0.0),
        (("beta", 1.0, 0.0, 1.0), {"high_open": False}, 1.0),
        (("lr", torch.tensor(0.5)), {}, 0.5),
    ],
)
def test_check_range_accepts(args, kwargs, expected):
    assert check_range(*args, **kwargs) == expected


@pytest.mark.parametrize(
    ("args", "kwargs", "pattern"),
    [
        (("lr", -1.0), {}, r"Invalid lr: -1\.0 - should be >= 0\.0"),
        (("lr", float("nan")), {}, r"Invalid lr: nan"),
        (("lr", None), {}, r"Invalid lr: None - should be a number"),
        (("lr", "x"), {}, r"Invalid lr: 'x' - should be a number"),
        (("beta", 1.0, 0.0, 1.0), {}, r"Invalid beta: 1\.0 - should be < 1\.0"),
        (("beta", 1.5, 0.0, 1.0), {"high_open": False}, r"Invalid beta: 1\.5 - should be <= 1\.0"),
        (("clip", 0.5, 1.0), {}, r"Invalid clip: 0\.5 - should be >= 1\.0"),
    ],
)
def test_check_range_rejects(args, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        check_range(*args, **kwargs)


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
    check_switches(foreach, fused)
    assert resolve_path(foreach, fused) == expected


@pytest.mark.parametrize(
    ("foreach", "fused", "pattern"),
    [
        (True, True, "foreach=True with fused=True"),
        ("yes", None, "Invalid foreach: 'yes'"),
        (None, 0, "Invalid fused: 0"),
    ],
)
def test_switches_rejected(foreach, fused, pattern):
    with pytest.raises(ValueError, match=pattern):
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
