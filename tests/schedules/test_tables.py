"""Every schedule against the two shared tables of tests/cases/schedules.py: hand-computed values
and transformers 4.46.3's λ(t) over whole curves."""

import warnings

import pytest

from cases.schedules import (
    KNOWN_VALUES,
    REFERENCE_CASES,
    assert_known_values,
    assert_matches_transformers,
)


@pytest.mark.parametrize("row", KNOWN_VALUES, ids=str)
def test_known_values(row):
    assert_known_values(row)


@pytest.mark.parametrize("case", REFERENCE_CASES, ids=str)
def test_matches_transformers(case):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # stepsize's schedules warn about nothing they accept
        assert_matches_transformers(case)
