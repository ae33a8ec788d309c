#!/usr/bin/env python3
"""A dry run of `make_reference.py --only apb` where transformers is absent.

A stand-in `transformers` module whose LlamaForCausalLM has HF's structure where the APB mode touches it
(q/k/v/o nn.Linear modules per layer with `layer_idx`; `eager_attention_forward` looked up in
transformers.models.llama.modeling_llama at call time; *RMSNorm and *RotaryEmbedding modules for
patch_float64; a DynamicCache with `layers[i].keys/values`), and a stand-in `safetensors.torch` over
safetensors_np. It checks the APB mode's own logic (hooks, selection, masks, host order, cache, checks, files),
not HF: that is what the device run is for. Needs torch (any CPU build); the weights come through
apb_reference.Llama, so the stand-in model is the numpy one's arithmetic in torch.

Usage: python3 tests/reference/dry_run_apb_hf.py OUT_DIR   (then: apb_reference.py --compare OUT_DIR)
"""
import json
import os
import sys
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import apb_reference  # noqa: E402
import safetensors_np  # noqa: E402


# ------------------------------------------------------------------- the stand-in transformers


def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    raise RuntimeError("the APB mode did not replace eager_attention_forward")


class DynamicCache:
    def __init__(self):
        self.layers = []

    def update(self, keys, values, layer):
        while len(self.layers) <= layer:
            self.layers.append(types.SimpleNamespace(keys=None, values=None))
        entry = self.layers[layer]
        entry.keys = keys if entry.keys is None else torch.cat([entry.keys, keys], 2)
        entry.values = values if entry.values is None else torch.cat([entry.values, values], 2)
        return entry.keys, entry.values

    def get_seq_length(self):
        return 0 if not self.layers else self.layers[0].keys.shape[2]


class LlamaRMSNorm(torch.nn.Module):
    """Its forward is patch_float64's."""

    def __init__(self, width, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(width))
        self.variance_epsilon = eps


class LlamaRotaryEmbedding(torch.nn.Module):
    """Its forward is patch_float64's; inv_freq in float32 like HF's."""

    def __init__(self, inv_freq):
        super().__init__()
        self.register_buffer("inv_freq", torch.tensor(inv_freq, dtype=torch.float32))
        self.attention_scaling = 1.0


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], -1)


class LlamaAttention(torch.nn.Module):
    def __init__(self, cfg, layer_idx):
        super().__init__()
        self.layer_idx, self.head_dim = layer_idx, cfg["head_dim"]
        width, heads, kv_heads = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.q_proj = torch.nn.Linear(width, heads * self.head_dim, bias=False)
        self.k_proj = torch.nn.Linear(width, kv_heads * self.head_dim, bias=False)
        self.v_proj = torch.nn.Linear(width, kv_heads * self.head_dim, bias=False)
        self.o_proj = torch.nn.Linear(heads * self.head_dim, width, bias=False)
        self.scaling = self.head_dim ** -0.5

    def forward(self, x, cos, sin, cache):
        B, L, _ = x.shape
        q = self.q_proj(x).view(B, L, -1, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, L, -1, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, L, -1, self.head_dim).transpose(1, 2)
        cos, sin = cos[:, None], sin[:, None]
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = cache.update(k, v, self.layer_idx)
        out, _ = modeling_llama.eager_attention_forward(self, q, k, v, None, self.scaling)  # looked up now, like HF
        return self.o_proj(out.reshape(B, L, -1))


class LlamaMLP(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        width, inter = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = torch.nn.Linear(width, inter, bias=False)
        self.up_proj = torch.nn.Linear(width, inter, bias=False)
        self.down_proj = torch.nn.Linear(inter, width, bias=False)

    def forward(self, x):
        return self.down_proj(torch.nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(torch.nn.Module):
    def __init__(self, cfg, layer_idx):
        super().__init__()
        self.self_attn, self.mlp = LlamaAttention(cfg, layer_idx), LlamaMLP(cfg)
        self.input_layernorm = LlamaRMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.post_attention_layernorm = LlamaRMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])

    def forward(self, x, cos, sin, cache):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(torch.nn.Module):
    def __init__(self, cfg, inv_freq):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = torch.nn.ModuleList([LlamaDecoderLayer(cfg, i) for i in range(cfg["num_hidden_layers"])])
        self.norm = LlamaRMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.rotary_emb = LlamaRotaryEmbedding(inv_freq)


class LlamaForCausalLM(torch.nn.Module):
    def __init__(self, cfg, inv_freq):
        super().__init__()
        self.config = cfg
        self.model = LlamaModel(cfg, inv_freq)
        self.lm_head = torch.nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)

    @classmethod
    def from_pretrained(cls, checkpoint, attn_implementation=None):
        numpy_model = apb_reference.Llama(checkpoint)
        with open(os.path.join(checkpoint, "config.json")) as f:
            model = cls(json.load(f), numpy_model.inv_freq)
        result = model.load_state_dict({k: torch.from_numpy(v) for k, v in numpy_model.w.items()}, strict=False)
        assert not result.unexpected_keys and all("inv_freq" in k for k in result.missing_keys), result
        return model

    def forward(self, input_ids, position_ids, attention_mask, past_key_values, use_cache):
        x = self.model.embed_tokens(input_ids)
        cos, sin = self.model.rotary_emb(x, position_ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin, past_key_values)
        return types.SimpleNamespace(logits=self.lm_head(self.model.norm(x)), past_key_values=past_key_values)


def load_file(path):
    return {k: torch.from_numpy(np.array(v)) for k, v in safetensors_np.read(path)[0].items()}


def save_file(tensors, path, metadata=None):
    safetensors_np.write(path, {k: v.numpy() for k, v in tensors.items()}, metadata)


def install_stand_ins():
    global modeling_llama
    modeling_llama = types.ModuleType("transformers.models.llama.modeling_llama")
    modeling_llama.eager_attention_forward = eager_attention_forward
    llama = types.ModuleType("transformers.models.llama")
    llama.modeling_llama = modeling_llama
    models = types.ModuleType("transformers.models")
    models.llama = llama
    transformers = types.ModuleType("transformers")
    transformers.__version__ = "5.0.0 (dry-run stand-in)"
    transformers.models, transformers.DynamicCache, transformers.LlamaForCausalLM = models, DynamicCache, LlamaForCausalLM
    transformers.LlamaConfig = dict
    safetensors_torch = types.ModuleType("safetensors.torch")
    safetensors_torch.load_file, safetensors_torch.save_file = load_file, save_file
    safetensors = types.ModuleType("safetensors")
    safetensors.torch = safetensors_torch
    sys.modules.update({"transformers": transformers, "transformers.models": models,
                        "transformers.models.llama": llama, "transformers.models.llama.modeling_llama": modeling_llama,
                        "safetensors": safetensors, "safetensors.torch": safetensors_torch})


def main():
    install_stand_ins()
    import make_reference
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "dry_run_apb_hf")
    sys.argv = ["make_reference.py", "--only", "apb", "--out", out, "--tar", out + ".tar"]
    return make_reference.main()


if __name__ == "__main__":
    sys.exit(main())
