"""``Join`` and ``Scale``: composition, including transformers' schedules as compositions."""

import json

import pytest

from cases.schedules import KNOWN_VALUES, close
from stepsize import schedules


def test_each_piece_sees_the_steps_since_its_boundary():
    a = schedules.get("linear", num_warmup_steps=0, num_training_steps=4)
    b = schedules.get("constant_with_warmup", num_warmup_steps=5)
    c = schedules.get("inverse_sqrt", num_warmup_steps=0, timescale=2)
    s = schedules.Join([a, b, c], [3, 10])
    assert [s(t) for t in range(3)] == [a(t) for t in range(3)]
    assert [s(t) for t in range(3, 10)] == [b(t) for t in range(7)]
    assert [s(t) for t in range(10, 30)] == [c(t) for t in range(20)]
    assert s.values(range(30)).tolist() == [s(t) for t in range(30)]


def test_one_piece_and_empty_phases():
    piece = schedules.get("cosine", num_warmup_steps=2, num_training_steps=9)
    assert [schedules.Join([piece], [])(t) for t in range(12)] == [piece(t) for t in range(12)]
    skipped = schedules.Join([schedules.get("constant"), piece, piece], [0, 0])
    assert [skipped(t) for t in range(12)] == [piece(t) for t in range(12)]


def test_sequences_are_stored_as_tuples():
    piece = schedules.get("constant")
    s = schedules.Join([piece, piece], [4])
    assert s.schedules == (piece, piece) and s.boundaries == (4,)
    assert hash(s) == hash(schedules.Join((piece, piece), (4,)))


@pytest.mark.parametrize("warmup, stable, decay", [(2, 6, 2), (0, 3, 5), (4, 0, 4), (3, 2, 0)])
@pytest.mark.parametrize("ratio", [0.0, 0.1])
def test_warmup_stable_decay_is_a_composition(warmup, stable, decay, ratio):
    wsd = schedules.get(
        "warmup_stable_decay",
        num_warmup_steps=warmup,
        num_stable_steps=stable,
        num_decay_steps=decay,
        min_lr_ratio=ratio,
    )
    to_floor = schedules.get(
        "cosine_with_min_lr", num_warmup_steps=0, num_training_steps=decay, min_lr_rate=ratio
    )
    composed = schedules.WithWarmup(
        schedules.Join([schedules.get("constant"), to_floor], [stable]), warmup, init_value=ratio
    )
    if decay == 0:  # no decay: the stable phase drops straight to the floor
        composed = schedules.Join([composed, schedules.Scale(schedules.get("constant"), ratio)],
                                  [warmup + stable])  # fmt: skip
    for t in range(warmup + stable + decay + 5):
        assert close(composed(t), wsd(t)), (t, composed(t), wsd(t))


@pytest.mark.parametrize("row", KNOWN_VALUES, ids=str)
def test_scale_by_the_base_lr_gives_the_known_values(row):
    s = schedules.Scale(schedules.get(row.name, **row.kwargs), row.base_lr)
    for t, expected in enumerate(row.values):
        assert abs(s(t) - expected) <= 5.0001e-5


def test_scale_multiplies():
    inner = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)
    s = schedules.Scale(inner, 0.5)
    assert [s(t) for t in range(12)] == [0.5 * inner(t) for t in range(12)]
    assert schedules.Scale(inner, 0)(5) == 0.0


def test_nested_configs_round_trip_through_json():
    s = schedules.Scale(
        schedules.Join(
            [
                schedules.WithWarmup(schedules.get("constant"), 3),
                schedules.get("polynomial", num_warmup_steps=0, num_training_steps=5, power=2),
            ],
            [8],
        ),
        1e-3,
    )
    config = json.loads(json.dumps(s.get_config()))
    assert config["schedule"]["schedules"][1]["name"] == "polynomial"
    assert config["schedule"]["boundaries"] == [8]
    assert schedules.from_config(config) == s
    assert [schedules.from_config(config)(t) for t in range(15)] == [s(t) for t in range(15)]
