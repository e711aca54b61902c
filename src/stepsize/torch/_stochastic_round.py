"""Stochastic rounding of float32 values to bfloat16 or float16, with reproducible random bits.

Rounding x to the precision of ``dtype`` stochastically picks the representable neighbour above
|x| with probability (|x| − lo)/(hi − lo), the one below otherwise, so the rounded value is x
on average: updates smaller than half a unit survive in expectation. It is computed on the bits:

* bfloat16 keeps the top 16 bits of a float32; adding a uniform random 16-bit integer to the
  bit pattern of x and clearing the low 16 bits carries into the kept bits with exactly that
  probability (the pattern is sign and magnitude, so negative values round symmetrically, and
  a carry out of the mantissa steps into the next binade, as it should).
* float16 values in its normal range are float32 values with 13 low zero bits: the same with
  13 random bits. Below the smallest normal (2⁻¹⁴) its grid is the multiples of 2⁻²⁴, the grid
  of the normal binade [2⁻¹⁴, 2⁻¹³): |x| is shifted there by adding 2⁻¹⁴, rounded, shifted back
  (exact). The shift rounds |x| to a multiple of 2⁻³⁷ first, a bias of at most 2⁻¹⁴ units.

The random bits are a counter-based hash of (seed, step, the parameter's position, the element's
index) in 64-bit integer arithmetic that never overflows, so every path (the reference loop,
the multi-tensor path, the compiled kernel, on any device) draws the same bits, and a run is
reproduced from its seed and step counts alone: resuming a checkpoint continues exactly.
"""

from __future__ import annotations

import torch

__all__ = ["random_bits", "stochastic_round", "stream_key"]

_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF
# The multiplier of a well-mixing 32-bit integer hash; below 2^27, so x·M < 2^59 for x < 2^32.
_HASH_MULTIPLIER = 0x45D9F3B
_DROPPED_BITS = {torch.bfloat16: 16, torch.float16: 13}
_FLOAT16_TINY = 2.0**-14  # float16's smallest normal number


def _splitmix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def stream_key(seed: int, step: int, position: int) -> int:
    """The 32-bit key of one parameter's random bits at one step.

    Args:
        seed: the optimizer's seed.
        step: the parameter's step count (after this step's increment).
        position: the parameter's position in the optimizer (as in its state dict).

    Example:
        >>> stream_key(0, 1, 0) == stream_key(0, 1, 0) != stream_key(0, 2, 0)
        True
    """
    return _splitmix64(_splitmix64(_splitmix64(seed & _MASK64) ^ step) ^ position) & _MASK32


def random_bits(numel: int, key: torch.Tensor | int, device: torch.device) -> torch.Tensor:
    """``numel`` uniform random 32-bit values (int64, in [0, 2^32)) of the stream ``key``.

    Element i is a hash of (i + key) mod 2^32: two rounds of xor-shift and multiply. Pure
    integer tensor operations, so a compiled kernel computes the same values.

    Example:
        >>> bits = random_bits(4, 7, torch.device("cpu"))
        >>> bits.dtype, bool((bits >= 0).all() and (bits < 2**32).all())
        (torch.int64, True)
    """
    x = (torch.arange(numel, dtype=torch.int64, device=device) + key) & _MASK32
    x = ((x >> 16) ^ x) * _HASH_MULTIPLIER & _MASK32
    x = ((x >> 16) ^ x) * _HASH_MULTIPLIER & _MASK32
    return (x >> 16) ^ x


def stochastic_round(x: torch.Tensor, dtype: torch.dtype, bits: torch.Tensor) -> torch.Tensor:
    """``x`` (float32) rounded stochastically to ``dtype`` (bfloat16 or float16).

    Args:
        x: the float32 values.
        dtype: ``torch.bfloat16`` or ``torch.float16``.
        bits: uniform random integers of x's shape (any integer dtype; the low 16 bits count).

    Returns:
        A tensor of ``dtype``: each value one of the two neighbours of x, unbiased.

    Example:
        >>> x = torch.full((4,), 1.0 + 2.0**-9)  # a quarter of the way to the next bfloat16
        >>> bits = torch.tensor([0, 0xBFFF, 0xC000, 0xFFFF])
        >>> stochastic_round(x, torch.bfloat16, bits).tolist()
        [1.0, 1.0, 1.0078125, 1.0078125]
    """
    dropped = _DROPPED_BITS[dtype]
    noise = (bits & ((1 << dropped) - 1)).to(torch.int32)
    if dtype == torch.bfloat16:
        return _truncate(x, noise, dropped).to(dtype)
    # float16: values below its smallest normal are rounded on the grid of [2^-14, 2^-13).
    shift = torch.copysign((x.abs() < _FLOAT16_TINY).to(x.dtype) * _FLOAT16_TINY, x)
    return (_truncate(x + shift, noise, dropped) - shift).to(dtype)


def _truncate(x: torch.Tensor, noise: torch.Tensor, dropped: int) -> torch.Tensor:
    """x's bit pattern plus ``noise``, with the low ``dropped`` bits cleared (float32)."""
    pattern = x.view(torch.int32) + noise
    return (pattern & -(1 << dropped)).view(torch.float32)
