"""Tiny transformers models built from configs (no download), shared by the param-group tests
and the integration tests: BERT, Llama (tied embeddings), T5 and GPT-2 (no dropout, so
training runs repeat exactly), two blocks each.

``LAYERS`` gives, per model, some parameter names with the layer the layer-wise lr decay
convention assigns them (embeddings 0, block i -> i + 1, the rest 3), written out by hand.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["LAYERS", "MODELS", "make_model"]


def _bert() -> torch.nn.Module:
    import transformers

    config = transformers.BertConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        num_labels=3,
    )
    return transformers.BertForSequenceClassification(config)


def _llama() -> torch.nn.Module:
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=32,
        max_position_embeddings=32,
        tie_word_embeddings=True,
    )
    return transformers.LlamaForCausalLM(config)


def _t5() -> torch.nn.Module:
    import transformers

    config = transformers.T5Config(
        vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_decoder_layers=2, num_heads=2
    )
    return transformers.T5ForConditionalGeneration(config)


def _gpt2() -> torch.nn.Module:
    import transformers

    config = transformers.GPT2Config(
        vocab_size=64, n_embd=16, n_layer=2, n_head=2, n_positions=32,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    return transformers.GPT2LMHeadModel(config)


MODELS: dict[str, Callable[[], torch.nn.Module]] = {
    "bert": _bert,
    "llama": _llama,
    "t5": _t5,
    "gpt2": _gpt2,
}

LAYERS: dict[str, dict[str, int]] = {
    "bert": {
        "bert.embeddings.word_embeddings.weight": 0,
        "bert.embeddings.LayerNorm.bias": 0,
        "bert.encoder.layer.0.attention.self.query.weight": 1,
        "bert.encoder.layer.1.output.LayerNorm.weight": 2,
        "bert.pooler.dense.weight": 3,
        "classifier.bias": 3,
    },
    "llama": {
        "model.embed_tokens.weight": 0,  # tied: lm_head.weight is the same parameter
        "model.layers.0.self_attn.q_proj.weight": 1,
        "model.layers.1.post_attention_layernorm.weight": 2,
        "model.norm.weight": 3,
    },
    "t5": {
        "shared.weight": 0,
        "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": 1,
        "encoder.block.1.layer.1.DenseReluDense.wi.weight": 2,
        "decoder.block.1.layer.2.layer_norm.weight": 2,
        "encoder.final_layer_norm.weight": 3,
        "decoder.final_layer_norm.weight": 3,
    },
    "gpt2": {
        "transformer.wte.weight": 0,  # tied with lm_head.weight
        "transformer.wpe.weight": 0,
        "transformer.h.0.attn.c_attn.weight": 1,
        "transformer.h.1.ln_2.bias": 2,
        "transformer.ln_f.weight": 3,
    },
}


def make_model(name: str, seed: int = 0) -> torch.nn.Module:
    """A fresh model ``name`` (a key of ``MODELS``) with the weights of ``seed``."""
    torch.manual_seed(seed)
    return MODELS[name]()
