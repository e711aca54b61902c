"""The text demo's data: standard-library paragraphs as character codes, length-grouped batches."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")

from stepsize.cli._demo_text_data import (  # noqa: E402
    HELD_OUT,
    MAX_CHARS,
    MODULES,
    encode,
    load,
    micro_batches,
)


def _write(folder, module, paragraphs):
    (folder / f"{module}.py").write_text("\n\n".join(paragraphs), encoding="utf-8")


def test_load_splits_paragraphs_and_holds_out_every_tenth(tmp_path):
    long = "x = 1  # " + "y" * 300
    _write(tmp_path, MODULES[0], [f"line {i:03d} of text" for i in range(14)] + ["short", long])
    _write(tmp_path, MODULES[2], [f"other {i:02d} paragraph" for i in range(5)])
    data = load(folder=tmp_path)
    assert data.files == [f"{MODULES[0]}.py", f"{MODULES[2]}.py"]  # missing modules left out
    texts = [
        "".join(chr(c) for c in s) for s in data.train + data.test
    ]  # "short" (< 8 characters) is dropped; the long one is cut at MAX_CHARS
    assert "short" not in texts and len(texts) == 20
    assert max(len(s) for s in data.train + data.test) == MAX_CHARS
    assert ["".join(chr(c) for c in s) for s in data.test] == [
        "line 009 of text",
        "other 04 paragraph",
    ]
    assert len(data.test) == 20 // HELD_OUT
    summary = data.summary()
    assert (summary["train"], summary["test"], summary["max_length"]) == (18, 2, MAX_CHARS)
    assert load(limit=10, folder=tmp_path).summary()["train"] == 9


def test_load_without_paragraphs_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="no source paragraphs found in"):
        load(folder=tmp_path)


def test_load_reads_the_running_pythons_standard_library():
    data = load(limit=200)
    assert (len(data.train), len(data.test)) == (180, 20)
    assert all(8 <= len(s) <= MAX_CHARS and s.dtype == np.int64 for s in data.train)
    assert len({len(s) for s in data.train}) > 50  # very different lengths


def test_encode_maps_non_ascii_to_zero():
    assert encode("a\u00e9\U0001f600\n").tolist() == [97, 0, 0, 10]


def test_micro_batches_cover_every_sequence_once_grouped_by_length():
    rng = np.random.default_rng(0)
    lengths = list(rng.integers(8, 160, size=1000))
    batches = micro_batches(lengths, 8, np.random.default_rng(1))
    indices = sorted(int(i) for batch in batches for i in batch)
    assert indices == list(range(1000))
    assert sorted(len(b) for b in batches)[1:] == [8] * (len(batches) - 1)  # one shorter, at most
    # Grouped by length: far less spread within a batch than in a random one.
    spread = np.mean([np.ptp([lengths[i] for i in b]) for b in batches])
    assert spread < 20
    again = micro_batches(lengths, 8, np.random.default_rng(1))
    assert [b.tolist() for b in again] == [b.tolist() for b in batches]  # seeded
