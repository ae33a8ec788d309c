"""A Llama-3 decoder in plain torch for training: the same math and parameter
names as transformers' LlamaForCausalLM (RMSNorm computed in float32, RoPE
with llama3 frequency scaling in float32, rotate-half, GQA, SwiGLU, tied or
untied head), so its state dict is a Hugging Face checkpoint. Training uses
causal SDPA (flash attention on the GPU) on right-padded rows; `infer` adds a
KV cache and a padding mask for batched greedy decoding with left padding.
The exported checkpoint is re-loaded with transformers for the evaluation, and
`train.py` compares the two forward passes, so a difference would show.
"""
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class TinyConfig:
    vocab_size: int = 4096
    hidden_size: int = 256
    intermediate_size: int = 640
    num_layers: int = 6
    num_heads: int = 8
    num_kv_heads: int = 4
    head_dim: int = 32
    rms_norm_eps: float = 1e-5
    rope_theta: float = 500000.0
    # llama3 frequency scaling as Llama-3.1 ships it
    rope_factor: float = 8.0
    rope_low_freq_factor: float = 1.0
    rope_high_freq_factor: float = 4.0
    rope_original_max_positions: int = 8192
    max_position_embeddings: int = 131072
    tie_word_embeddings: bool = True
    bos_token_id: int = 0
    eos_token_ids: tuple = (1,)

    def parameter_count(self):
        h, i, v = self.hidden_size, self.intermediate_size, self.vocab_size
        q, kv = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        layer = h * q + 2 * h * kv + q * h + 3 * h * i + 2 * h
        return v * h * (1 if self.tie_word_embeddings else 2) + self.num_layers * layer + h

    def hf_config_kwargs(self):
        """Arguments of transformers' LlamaConfig (transformers 5: rope_parameters)."""
        return dict(vocab_size=self.vocab_size, hidden_size=self.hidden_size,
                    intermediate_size=self.intermediate_size, num_hidden_layers=self.num_layers,
                    num_attention_heads=self.num_heads, num_key_value_heads=self.num_kv_heads,
                    head_dim=self.head_dim, max_position_embeddings=self.max_position_embeddings,
                    rms_norm_eps=self.rms_norm_eps, tie_word_embeddings=self.tie_word_embeddings,
                    hidden_act="silu", attention_bias=False, mlp_bias=False, bos_token_id=self.bos_token_id,
                    eos_token_id=list(self.eos_token_ids),
                    rope_parameters=dict(rope_type="llama3", rope_theta=self.rope_theta, factor=self.rope_factor,
                                         low_freq_factor=self.rope_low_freq_factor,
                                         high_freq_factor=self.rope_high_freq_factor,
                                         original_max_position_embeddings=self.rope_original_max_positions))

    def to_dict(self):
        d = asdict(self)
        d["eos_token_ids"] = list(self.eos_token_ids)
        return d

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d["eos_token_ids"] = tuple(d["eos_token_ids"])
        return cls(**d)


def llama3_inv_freq(cfg):
    """transformers' default RoPE frequencies then _compute_llama3_parameters, in float32."""
    dim = cfg.head_dim
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    old = cfg.rope_original_max_positions
    low_wavelen = old / cfg.rope_low_freq_factor
    high_wavelen = old / cfg.rope_high_freq_factor
    wavelen = 2 * math.pi / inv
    scaled = torch.where(wavelen > low_wavelen, inv / cfg.rope_factor, inv)
    smooth = (old / wavelen - cfg.rope_low_freq_factor) / (cfg.rope_high_freq_factor - cfg.rope_low_freq_factor)
    smoothed = (1 - smooth) * scaled / cfg.rope_factor + smooth * scaled
    medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
    return torch.where(medium, smoothed, scaled)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def attention(q, k, v, causal_offset=None, key_mask=None):
    """q [B, H, Tq, d], k/v [B, H, Tk, d]. Without masks: causal (Tq == Tk), SDPA
    when torch has it. With masks: query i (absolute position causal_offset + i in
    the key axis) sees keys j <= causal_offset + i with key_mask[b, j] true."""
    if key_mask is None and hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    tq, tk = q.shape[-2], k.shape[-2]
    offset = tk - tq if causal_offset is None else causal_offset
    scores = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    allowed = torch.arange(tk, device=q.device)[None, :] <= (offset + torch.arange(tq, device=q.device))[:, None]
    allowed = allowed[None, None]
    if key_mask is not None:
        # A padding query sees its own key too, so no row is empty (an all -inf row
        # gives NaN, and a NaN value would reach real rows through 0 x NaN).
        own = torch.arange(tk, device=q.device)[None, :] == (offset + torch.arange(tq, device=q.device))[:, None]
        allowed = (allowed & key_mask[:, None, None, :].bool()) | own[None, None]
    scores = scores.masked_fill(~allowed, float("-inf"))
    return (torch.softmax(scores, dim=-1) @ v.float()).to(q.dtype)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        h, d = cfg.hidden_size, cfg.head_dim
        self.q_proj = nn.Linear(h, cfg.num_heads * d, bias=False)
        self.k_proj = nn.Linear(h, cfg.num_kv_heads * d, bias=False)
        self.v_proj = nn.Linear(h, cfg.num_kv_heads * d, bias=False)
        self.o_proj = nn.Linear(cfg.num_heads * d, h, bias=False)

    def forward(self, x, cos, sin, cache=None, key_mask=None):
        b, t, _ = x.shape
        cfg = self.cfg
        q = self.q_proj(x).view(b, t, cfg.num_heads, cfg.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, cfg.num_kv_heads, cfg.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, cfg.num_kv_heads, cfg.head_dim).transpose(1, 2)
        cos, sin = cos[:, None], sin[:, None]
        q = (q * cos + rotate_half(q) * sin).to(v.dtype)
        k = (k * cos + rotate_half(k) * sin).to(v.dtype)
        past = 0
        if cache is not None:
            if cache.get("k") is not None:
                past = cache["k"].shape[2]
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        group = cfg.num_heads // cfg.num_kv_heads
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
        if cache is None and key_mask is None:
            out = attention(q, k, v)
        else:
            out = attention(q, k, v, causal_offset=past, key_mask=key_mask)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, cfg.num_heads * cfg.head_dim))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, cache=None, key_mask=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache, key_mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.num_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class TinyLlama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = Backbone(cfg)
        if not cfg.tie_word_embeddings:
            self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.register_buffer("inv_freq", llama3_inv_freq(cfg), persistent=False)

    def head_weight(self):
        return self.model.embed_tokens.weight if self.cfg.tie_word_embeddings else self.lm_head.weight

    def init_weights(self, seed):
        gen = torch.Generator().manual_seed(seed)
        residual_std = 0.02 / math.sqrt(2 * self.cfg.num_layers)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("norm.weight"):
                    p.fill_(1.0)
                else:
                    std = residual_std if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
                    p.copy_(torch.randn(p.shape, generator=gen) * std)

    def rope(self, positions, dtype):
        freqs = positions.float()[..., None] * self.inv_freq.float()[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(dtype), emb.sin().to(dtype)

    def hidden(self, input_ids, positions=None, caches=None, key_mask=None):
        b, t = input_ids.shape
        if positions is None:
            positions = torch.arange(t, device=input_ids.device)[None].expand(b, t)
        x = self.model.embed_tokens(input_ids)
        cos, sin = self.rope(positions, torch.float32)
        for i, layer in enumerate(self.model.layers):
            x = layer(x, cos, sin, None if caches is None else caches[i], key_mask)
        return self.model.norm(x)

    def forward(self, input_ids):
        """Final hidden states of a training batch (what torch.compile compiles)."""
        return self.hidden(input_ids)

    def logits(self, hidden):
        return hidden @ self.head_weight().t().to(hidden.dtype)

    def new_caches(self):
        return [dict() for _ in range(self.cfg.num_layers)]

    def infer(self, input_ids, positions, key_mask, caches):
        """Logits [B, T, V] of new tokens after the cached ones; key_mask [B, past + T]."""
        return self.logits(self.hidden(input_ids, positions, caches, key_mask))

    def hf_state_dict(self, dtype=torch.bfloat16):
        """Tensors under transformers' names (no lm_head when tied: tied checkpoints name none)."""
        return {name: p.detach().to(dtype).contiguous().cpu() for name, p in self.named_parameters()}


def answer_weighted_loss(model, inputs, targets, answer, context_weight):
    """Mean cross-entropy over answer tokens plus context_weight x the mean over the
    others (RULER answers are a few tokens of a few thousand: the answer term is
    what the model must learn; the rest teaches it the text's structure).
    Returns tensors: loss, answer loss, context loss, answer token count, answer
    tokens predicted right (argmax, teacher-forced)."""
    hidden = model(inputs)
    # Every position's logits (no boolean indexing: it would wait for the GPU each step).
    logits = model.logits(hidden).float()
    ce = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100,
                         reduction="none").view(targets.shape)
    valid = targets >= 0
    answer = answer & valid
    other = valid & ~answer
    n_answer = answer.sum()
    answer_loss = (ce * answer).sum() / n_answer.clamp(min=1)
    correct = ((logits.argmax(-1) == targets) & answer).sum()
    if context_weight > 0:
        context_loss = (ce * other).sum() / other.sum().clamp(min=1)
    else:
        context_loss = torch.zeros((), device=ce.device)
    loss = answer_loss + context_weight * context_loss
    return loss, answer_loss.detach(), context_loss.detach(), n_answer, correct
