"""``param_groups`` on BERT, Llama, T5 and GPT-2 built from configs, and on plain modules."""

import re

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from cases.closeness import assert_close  # noqa: E402
from cases.hf_models import LAYERS, MODELS, make_model  # noqa: E402
from stepsize import schedules  # noqa: E402
from stepsize.torch import (  # noqa: E402
    AdamW,
    GreedyLR,
    ScheduledLR,
    default_no_decay,
    param_groups,
)

each_model = pytest.mark.parametrize("name", sorted(MODELS))


def by_name(model, groups):
    """Each parameter name -> its group's (weight_decay, lr)."""
    group_of = {id(p): group for group in groups for p in group["params"]}
    return {
        name: (group_of[id(p)]["weight_decay"], group_of[id(p)].get("lr"))
        for name, p in model.named_parameters()
    }


@each_model
def test_every_parameter_exactly_once(name):
    model = make_model(name)
    groups = param_groups(model, lr=1e-3, weight_decay=0.01, layer_decay=0.8)
    grouped = [p for group in groups for p in group["params"]]
    assert len(grouped) == len({id(p) for p in grouped})
    assert {id(p) for p in grouped} == {id(p) for p in model.parameters()}
    # Groups are merged: no two share their hyper-parameters.
    keys = [(group["weight_decay"], group["lr"]) for group in groups]
    assert len(keys) == len(set(keys))


def test_tied_weights_are_one_parameter():
    for name, tied in (("gpt2", "lm_head.weight"), ("llama", "lm_head.weight")):
        model = make_model(name)
        embedding = model.get_input_embeddings().weight
        assert model.get_submodule(tied.rpartition(".")[0]).weight is embedding
        grouped = [p for group in param_groups(model, weight_decay=0.1) for p in group["params"]]
        assert sum(p is embedding for p in grouped) == 1


@each_model
def test_no_decay_includes_everything_trainer_leaves_out(name):
    model = make_model(name)
    names = {n for n, _ in model.named_parameters()}
    # The method reads nothing of the Trainer: call it without building one.
    trainer_decays = set(transformers.Trainer.get_decay_parameter_names(None, model))
    ours = by_name(model, param_groups(model, weight_decay=0.1))
    undecayed = {n for n, (decay, _) in ours.items() if decay == 0.0}
    assert names - trainer_decays <= undecayed
    # ... and adds only the weights of norm classes Trainer 4.x does not know (LlamaRMSNorm).
    norm_classes = {
        f"{prefix}.{local}"
        for prefix, module in model.named_modules()
        if type(module).__name__.endswith("Norm")
        for local, _ in module.named_parameters(recurse=False)
    }
    assert undecayed == (names - trainer_decays) | (norm_classes & names)
    assert all(ours[n] == (0.1, None) for n in names - undecayed)


@each_model
def test_layer_decay(name):
    model = make_model(name)
    ours = by_name(model, param_groups(model, lr=1e-3, weight_decay=0.1, layer_decay=0.5))
    for parameter, layer in LAYERS[name].items():
        assert ours[parameter][1] == pytest.approx(1e-3 * 0.5 ** (3 - layer)), parameter
    lrs = sorted({lr for _, lr in ours.values()})
    assert lrs == pytest.approx([1e-3 * 0.5**k for k in (3, 2, 1, 0)])


def test_a_model_without_blocks_has_two_layers():
    model = torch.nn.Sequential(
        torch.nn.Embedding(10, 4), torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4)
    )
    ours = by_name(model, param_groups(model, lr=1.0, weight_decay=0.5, layer_decay=0.1))
    assert ours == {
        "0.weight": (0.5, pytest.approx(0.1)),
        "1.weight": (0.5, 1.0),
        "1.bias": (0.0, 1.0),
        "2.weight": (0.0, 1.0),
        "2.bias": (0.0, 1.0),
    }


def test_defaults_make_one_group():
    model = make_model("bert")
    (group,) = param_groups(model)
    assert group.keys() == {"params", "weight_decay"} and group["weight_decay"] == 0.0
    (group,) = param_groups(model, lr=2e-5)
    assert group["lr"] == 2e-5


def test_frozen_parameters_are_left_out():
    model = make_model("bert")
    model.bert.embeddings.requires_grad_(False)
    grouped = {id(p) for group in param_groups(model, weight_decay=0.1) for p in group["params"]}
    assert grouped == {id(p) for p in model.parameters() if p.requires_grad}
    assert len(grouped) == len(list(model.parameters())) - 5


@pytest.mark.parametrize(
    ("no_decay", "undecayed"),
    [
        (["bias", "LayerNorm.weight"], lambda names: {n for n in names if "bias" in n}),
        (("ln_",), lambda names: {n for n in names if "ln_" in n}),
        ([], lambda names: set()),
        (
            lambda name, module: isinstance(module, torch.nn.Embedding),
            lambda names: {"transformer.wte.weight", "transformer.wpe.weight"},
        ),
    ],
)
def test_no_decay_as_substrings_or_a_function(no_decay, undecayed):
    model = make_model("gpt2")
    ours = by_name(model, param_groups(model, weight_decay=0.1, no_decay=no_decay))
    assert {n for n, (decay, _) in ours.items() if decay == 0.0} == undecayed(ours)


def test_default_rule_on_names_and_modules():
    linear, norm = torch.nn.Linear(2, 2), torch.nn.GroupNorm(1, 2)
    assert default_no_decay("x.norm.weight", linear)
    assert default_no_decay("blocks.0.q_norm.weight", linear)
    assert default_no_decay("x.weight", norm)
    assert not default_no_decay("x.normalizer.weight", linear)
    assert not default_no_decay("x.weight", linear)


def test_weight_decay_reaches_only_decayed_parameters():
    # With zero gradients AdamW's step is the decay alone: p <- p·(1 - lr·wd).
    model = make_model("gpt2")
    groups = param_groups(model, lr=0.1, weight_decay=0.5, layer_decay=0.5)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = AdamW(groups)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    hyper = by_name(model, groups)
    for n, p in model.named_parameters():
        decay, lr = hyper[n]
        assert_close(p, before[n] * (1 - lr * decay), torch.float32, what=n)
    attention = "transformer.h.0.attn.c_attn.weight"
    assert not torch.equal(model.get_parameter(attention), before[attention])
    assert torch.equal(model.transformer.ln_f.weight, before["transformer.ln_f.weight"])


def test_schedulers_keep_each_groups_lr():
    model = make_model("t5")
    groups = param_groups(model, lr=1e-3, weight_decay=0.1, layer_decay=0.5)
    base = [group["lr"] for group in groups]
    optimizer = torch.optim.AdamW(groups)
    schedule = schedules.get("linear", num_warmup_steps=2, num_training_steps=8)
    scheduler = ScheduledLR(optimizer, schedule)
    for step in range(1, 5):
        optimizer.step()
        scheduler.step()
        assert scheduler.get_last_lr() == pytest.approx([lr * schedule(step) for lr in base])

    optimizer = torch.optim.AdamW(param_groups(model, lr=1e-3, weight_decay=0.1, layer_decay=0.5))
    greedy = GreedyLR(optimizer, factor=0.5, patience=0, min_lr=0.0)
    greedy.step(3.0)  # an improvement: every lr doubles
    assert greedy.get_last_lr() == pytest.approx([2 * lr for lr in base])
    greedy.step(4.0)  # worse: every lr halves
    assert greedy.get_last_lr() == pytest.approx(base)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"model": [1]}, TypeError, "model must be a torch.nn.Module, got [1] (list)"),
        ({"lr": "1e-3"}, TypeError, "lr must be a real number, got '1e-3' (str)"),
        ({"lr": -1.0}, ValueError, "lr must be a finite number >= 0.0, got -1.0"),
        ({"weight_decay": None}, TypeError, "weight_decay must be a real number, got None"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay must be a finite number >= 0.0"),
        ({"lr": 1.0, "layer_decay": 0.0}, ValueError, "layer_decay must be a finite number in (0"),
        ({"lr": 1.0, "layer_decay": 1.5}, ValueError, "layer_decay must be a finite number in (0"),
        ({"layer_decay": 0.9}, ValueError, "layer_decay needs lr, got layer_decay=0.9 and lr=None"),
        ({"no_decay": "bias"}, TypeError, "no_decay must be a function (name, module) -> bool"),
        ({"no_decay": ["bias", 3]}, TypeError, "no_decay[1] must be a string, got 3 (int)"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    kwargs = {"model": torch.nn.Linear(2, 2), **kwargs}
    with pytest.raises(error, match="^" + re.escape(message)):
        param_groups(kwargs.pop("model"), **kwargs)
