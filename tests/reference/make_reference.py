#!/usr/bin/env python3
"""Reference data for starbench, made with Hugging Face transformers in float64.

Builds a tiny random Llama-3 (llama3 RoPE scaling that matters at short lengths),
saves it as a sharded bf16 checkpoint, and records float64 logits for
  * global attention over 96 tokens (+ 8 greedy tokens), and
  * Star Attention (arXiv 2411.17116) for several (context, block, anchor) cases
    (+ 4 greedy tokens), and
  * DuoAttention (arXiv 2410.10819): a mixed and an all-streaming head pattern on one
    rank, and star + duo (Star Attention's phase 1, the duo rule in phase 2)
    (+ 8 greedy tokens); HF's eager attention is replaced by one that applies the rule
    per head (retrieval heads causal; streaming heads see key j from query i iff
    j <= i and (j < sink or i - j < recent), on absolute positions).
Everything runs through HF's own LlamaForCausalLM (forward with position_ids,
attention masks and a DynamicCache). Two precision patches make it float64 end to
end: HF's RMSNorm and rotary embedding compute in float32 whatever the model's
dtype; here they compute in float64 (same formulas). An independent float64
re-implementation of the forward pass checks every HF result.

Usage: python3 make_reference.py --out DIR --tar FILE.tar
       python3 make_reference.py --only duo --out DIR --tar FILE.tar
         (the DuoAttention files alone, from the committed checkpoint and tokens in data/;
          writes only new files: duo_*, star_duo_*, duo_pattern_*/, duo_reference.json)
       python3 make_reference.py --only apb --out DIR --tar FILE.tar
         (APB through HF, with the committed checkpoint, tokens and data/apb_compressor_tiny: the same
          apb_C80_H*_A*_P*_Q*.safetensors names as apb_reference.py, compared with the committed numpy
          files and the numpy reference in process; plus apb_hf_reference.json and .log)
"""
import argparse
import json
import math
import os
import shutil
import sys
import tarfile
import traceback
import types

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the device machine has no network

import numpy as np
import torch

import transformers
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apb_reference as numpy_apb  # noqa: E402  (APB's cases, file names and the float64 numpy reference)
import safetensors_np  # noqa: E402

VOCAB, HIDDEN, INTER, LAYERS, HEADS, KV_HEADS, HEAD_DIM = 512, 128, 384, 2, 4, 2, 32
ROPE_THETA = 500000.0
ROPE = dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
            original_max_position_embeddings=64)
MAX_POS, EPS = 4096, 1e-5
BOS, EOS = 1, 2
SEQ_LEN, CONTEXT_LEN = 96, 80
GLOBAL_GENERATE, STAR_GENERATE = 8, 4
STAR_CASES = [(80, 20, 20), (80, 20, 8), (80, 20, 0), (80, 40, 40), (80, 80, 80), (72, 16, 16), (80, 10, 10)]
SEED = 20241126

CHECKS = {}  # name -> (ok, detail); all are recorded, the script exits non-zero if one failed


def check(name, ok, detail):
    CHECKS[name] = (bool(ok), detail)
    print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}")


# ---------------------------------------------------------------------------- model


def make_config():
    common = dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
                  num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM,
                  max_position_embeddings=MAX_POS, rms_norm_eps=EPS, tie_word_embeddings=False,
                  hidden_act="silu", attention_bias=False, mlp_bias=False, bos_token_id=BOS, eos_token_id=EOS)
    major = int(transformers.__version__.split(".")[0])
    if major >= 5:
        return LlamaConfig(rope_parameters=dict(ROPE, rope_theta=ROPE_THETA), **common)
    return LlamaConfig(rope_theta=ROPE_THETA, rope_scaling=dict(ROPE), **common)


def init_weights(model):
    """Scales that make attention position-dependent (q.k/sqrt(d) of order 2, so
    RoPE and its scaling change the result) and logits of order 2 (so greedy
    tokens are well separated). HF's default std 0.02 gives near-uniform attention."""
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                value = 1.0 + 0.1 * (2.0 * torch.rand(p.shape, generator=gen, dtype=torch.float64) - 1.0)
            elif "embed_tokens" in name:
                value = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            elif "q_proj" in name or "k_proj" in name:
                value = 0.12 * torch.randn(p.shape, generator=gen, dtype=torch.float64)
            elif "lm_head" in name:
                value = (2.0 / math.sqrt(p.shape[1])) * torch.randn(p.shape, generator=gen, dtype=torch.float64)
            else:  # v, o, gate, up, down: variance-preserving
                value = (1.0 / math.sqrt(p.shape[1])) * torch.randn(p.shape, generator=gen, dtype=torch.float64)
            p.copy_(value.to(p.dtype))


def llama3_inv_freq_f64():
    """HF _compute_llama3_parameters, re-derived in float64."""
    inv = 1.0 / (ROPE_THETA ** (np.arange(0, HEAD_DIM, 2, dtype=np.float64) / HEAD_DIM))
    factor, low, high = ROPE["factor"], ROPE["low_freq_factor"], ROPE["high_freq_factor"]
    old = ROPE["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old / low, old / high
    wavelen = 2 * math.pi / inv
    out = np.where(wavelen > low_wavelen, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * out / factor + smooth * out
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return np.where(medium, smoothed, out)


def patch_float64(model, inv_freq):
    """HF computes RMSNorm and RoPE angles in float32 whatever the dtype; do them in float64."""

    def rms_forward(self, hidden_states):
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))

    def rope_forward(self, x, position_ids):
        freqs = position_ids[..., None].to(torch.float64) * self._inv_freq_f64[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        scaling = float(getattr(self, "attention_scaling", 1.0))
        return (emb.cos() * scaling).to(x.dtype), (emb.sin() * scaling).to(x.dtype)

    norms = ropes = 0
    for module in model.modules():
        kind = type(module).__name__
        if kind.endswith("RMSNorm"):
            module.forward = types.MethodType(rms_forward, module)
            norms += 1
        elif kind.endswith("RotaryEmbedding"):
            hf = module.inv_freq.detach().double().cpu().numpy()
            rel = float(np.max(np.abs(hf - inv_freq) / inv_freq))
            check("hf_llama3_inv_freq_matches_float64_rederivation", rel < 1e-6, f"max rel diff {rel:.3g}")
            module._inv_freq_f64 = torch.tensor(inv_freq, dtype=torch.float64, device=module.inv_freq.device)
            module.forward = types.MethodType(rope_forward, module)
            ropes += 1
    check("float64_patches_applied", norms == 2 * LAYERS + 1 and ropes >= 1, f"{norms} RMSNorms, {ropes} rotary")


def new_cache(config):
    try:
        return DynamicCache()
    except TypeError:
        return DynamicCache(config=config)


def cache_layer_kv(cache, layer):
    if hasattr(cache, "layers"):
        return cache.layers[layer].keys, cache.layers[layer].values
    if hasattr(cache, "key_cache"):
        return cache.key_cache[layer], cache.value_cache[layer]
    return cache[layer][0], cache[layer][1]


# ---------------------------------------------------------------- HF-driven forward passes


def hf_forward(model, ids, positions, cache):
    """ids/positions: 1-D int64 on the device; cache: a DynamicCache (filled in place)."""
    past = cache.get_seq_length()
    out = model(input_ids=ids[None], position_ids=positions[None],
                attention_mask=torch.ones(1, past + ids.numel(), dtype=torch.long, device=ids.device),
                past_key_values=cache, use_cache=True)
    return out.logits[0].double(), out.past_key_values


def hf_greedy(model, first_logits, next_position, cache, count):
    tokens, logits = [], first_logits
    for step in range(count):
        token = int(torch.argmax(logits))
        tokens.append(token)
        if step + 1 == count:
            break
        dev = first_logits.device
        step_logits, cache = hf_forward(model, torch.tensor([token], device=dev),
                                        torch.tensor([next_position + step], device=dev), cache)
        logits = step_logits[-1]
    return tokens


def hf_star_cache(model, tokens, C, B, A):
    """Phase 1 of Star Attention: every block after the first is prefixed by the
    anchor (first A context tokens, at positions 0..A-1); keep the block's KV only."""
    dev = tokens.device
    keys = [[] for _ in range(LAYERS)]
    values = [[] for _ in range(LAYERS)]
    block_logits = []
    for start in range(0, C, B):
        end = min(start + B, C)
        if start == 0:
            ids, pos, keep_from = tokens[0:end], torch.arange(0, end, device=dev), 0
        else:
            ids = torch.cat([tokens[0:A], tokens[start:end]])
            pos = torch.cat([torch.arange(0, A, device=dev), torch.arange(start, end, device=dev)])
            keep_from = A
        logits, cache = hf_forward(model, ids, pos, new_cache(model.config))
        block_logits.append(logits[keep_from:])
        for layer in range(LAYERS):
            k, v = cache_layer_kv(cache, layer)
            keys[layer].append(k[:, :, keep_from:, :])
            values[layer].append(v[:, :, keep_from:, :])
    cache = new_cache(model.config)
    for layer in range(LAYERS):
        cache.update(torch.cat(keys[layer], dim=2).contiguous(), torch.cat(values[layer], dim=2).contiguous(), layer)
    return cache, torch.cat(block_logits)


# ------------------------------------------------------------------------ DuoAttention

DUO_SINK, DUO_RECENT, DUO_GENERATE = 4, 8, 8
# Gates per (layer, KV head) in DuoAttention's full_attention_heads.tsv format; threshold 0.5.
DUO_PATTERNS = {"mixed": [[0.83, 0.12], [0.31, 0.97]], "streaming": [[0.0, 0.2], [0.1, 0.4]]}
STAR_DUO_CASES = [(80, 20, 20), (80, 10, 10), (80, 40, 40)]
# The rule the patched attention applies: retrieval None = every head causal (plain attention).
DUO = dict(retrieval=None, sink=DUO_SINK, recent=DUO_RECENT, calls=0)


def duo_retrieval(name):
    return [[1 if gate >= 0.5 else 0 for gate in layer] for layer in DUO_PATTERNS[name]]


def duo_eager_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """HF eager attention with DuoAttention's per-head rule (HF's own mask is not used: no padding here).
    Keys are the cache's rows, which are positions 0..K-1 in every use below (a full-context cache, or
    star's blocks concatenated in order, or one block's fresh cache in star's phase 1, where
    retrieval is None); the T queries are the last T positions."""
    DUO["calls"] += 1
    heads, T, K = query.shape[1], query.shape[2], key.shape[2]
    group = heads // key.shape[1]
    k, v = key.repeat_interleave(group, 1), value.repeat_interleave(group, 1)
    scores = (query @ k.transpose(2, 3)) * scaling
    q_pos = torch.arange(K - T, K, device=query.device)[:, None]
    k_pos = torch.arange(K, device=query.device)[None, :]
    allowed = (k_pos <= q_pos).expand(heads, T, K).clone()
    if DUO["retrieval"] is not None:
        window = (k_pos <= q_pos) & ((k_pos < DUO["sink"]) | (q_pos - k_pos < DUO["recent"]))
        for h in range(heads):
            if not DUO["retrieval"][module.layer_idx][h // group]:
                allowed[h] = window
    scores = scores.masked_fill(~allowed[None], float("-inf"))
    out = torch.softmax(scores, dim=-1) @ v
    return out.transpose(1, 2).contiguous(), None


def load_patched_model(ckpt_dir, device, inv_freq, attention, calls, name):
    """The checkpoint through HF with its attention function replaced by `attention` (float64):
    LlamaAttention looks `eager_attention_forward` up in its module at call time. If this transformers
    dispatches otherwise (no call reaches the function: calls() unchanged by a probe), the function is
    registered through AttentionInterface under `name` instead, with the sdpa mask format for its
    (unused) mask argument."""
    import transformers.models.llama.modeling_llama as modeling_llama
    modeling_llama.eager_attention_forward = attention
    model = LlamaForCausalLM.from_pretrained(ckpt_dir, attn_implementation="eager").double().to(device).eval()
    patch_float64(model, inv_freq)
    before = calls()
    with torch.no_grad():
        hf_forward(model, torch.tensor([1, 2, 3], device=device), torch.arange(3, device=device), new_cache(model.config))
    if calls() == before:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
        AttentionInterface.register(name, attention)
        AttentionMaskInterface.register(name, sdpa_mask)
        model = LlamaForCausalLM.from_pretrained(ckpt_dir, attn_implementation=name)
        model = model.double().to(device).eval()
        patch_float64(model, inv_freq)
        print(f"  {name} attention: registered through AttentionInterface (the eager patch was not reached)")
    return model


def load_duo_model(ckpt_dir, device, inv_freq):
    """The checkpoint with duo_eager_attention (load_patched_model)."""
    return load_patched_model(ckpt_dir, device, inv_freq, duo_eager_attention, lambda: DUO["calls"], "starbench_duo")


def write_duo_pattern(out, name):
    directory = os.path.join(out, f"duo_pattern_{name}")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "full_attention_heads.tsv"), "w") as f:
        for layer in DUO_PATTERNS[name]:
            f.write("\t".join(f"{gate:.18e}" for gate in layer) + "\n")
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump({"sink_size": DUO_SINK, "recent_size": DUO_RECENT,
                   "note": "starbench reference pattern (tests/reference/make_reference.py)"}, f, indent=2)
    return os.path.basename(directory)


def make_duo_references(model, ref, tokens, out, global_logits, star_files):
    """duo_{mixed,all_streaming}.safetensors and star_duo_C*_B*_A*.safetensors (+ pattern directories).
    global_logits: global attention's logits of every position; star_files: {(C, B, A): query logits}."""
    device = tokens.device
    T, C = SEQ_LEN, CONTEXT_LEN
    results = {}
    DUO["retrieval"], DUO["calls"] = None, 0
    plain, _ = hf_forward(model, tokens, torch.arange(T, device=device), new_cache(model.config))
    check("duo_patched_attention_runs", DUO["calls"] > 0, f"{DUO['calls']} calls")
    ref_plain, _ = ref.forward(tokens, torch.arange(T, device=device))
    check("duo_patched_attention_without_pattern_is_float64_global", max_abs(plain, ref_plain) < 1e-9,
          f"max |diff| {max_abs(plain, ref_plain):.3g}")
    # global_logits may be the committed float32 file: rounding 1e-7 relative.
    check("duo_patched_attention_without_pattern_is_global_reference", max_abs(plain, global_logits) < 1e-5,
          f"max |diff| {max_abs(plain, global_logits):.3g}")
    for name, file in (("mixed", "duo_mixed"), ("streaming", "duo_all_streaming")):
        pattern_dir = write_duo_pattern(out, name)
        DUO["retrieval"] = duo_retrieval(name)
        logits, cache = hf_forward(model, tokens[:C], torch.arange(C, device=device), new_cache(model.config))
        q_logits, cache = hf_forward(model, tokens[C:T], torch.arange(C, T, device=device), cache)
        generated = hf_greedy(model, q_logits[-1], T, cache, DUO_GENERATE)
        try:
            r_logits, r_generated = ref.duo(tokens, C, T, DUO_GENERATE, (DUO["retrieval"], DUO_SINK, DUO_RECENT))
            diff = max_abs(q_logits, r_logits)
            check(f"{file}_hf_vs_float64_reimplementation", diff < 1e-9 and generated == r_generated,
                  f"max |diff| {diff:.3g}, generated hf {generated} ref {r_generated}")
        except Exception:
            check(f"{file}_float64_reimplementation_ran", False, traceback.format_exc())
        vs_global = max_abs(q_logits, global_logits[C:T])
        check(f"{file}_differs_from_global", vs_global > 1e-6, f"max |diff| vs global {vs_global:.3g}")
        print(f"  {file}: |duo - global| max {vs_global:.3g}, generated {generated}")
        save_file({"logits": f32(q_logits), "generated": f32(torch.tensor(generated)), "tokens": f32(tokens)},
                  os.path.join(out, f"{file}.safetensors"),
                  metadata={"context_len": str(C), "seq_len": str(T), "generated_count": str(DUO_GENERATE),
                            "duo_pattern": pattern_dir, "sink": str(DUO_SINK), "recent": str(DUO_RECENT)})
        results[file] = dict(file=f"{file}.safetensors", context_len=C, seq_len=T, pattern=DUO_PATTERNS[name],
                             retrieval=DUO["retrieval"], sink=DUO_SINK, recent=DUO_RECENT, generated=generated,
                             max_abs_diff_vs_global=vs_global, top2_margin_min=top2_margin(q_logits))

    retrieval = duo_retrieval("mixed")
    for (Cs, B, A) in STAR_DUO_CASES:
        name = f"star_duo_C{Cs}_B{B}_A{A}"
        DUO["retrieval"] = None  # phase 1 is Star Attention unchanged
        cache, _ = hf_star_cache(model, tokens, Cs, B, A)
        if (Cs, B, A) in star_files:  # a check of the phase-1 construction against the committed star data
            star_logits, _ = hf_forward(model, tokens[Cs:T], torch.arange(Cs, T, device=device),
                                        hf_star_cache(model, tokens, Cs, B, A)[0])
            diff = max_abs(star_logits, star_files[(Cs, B, A)])
            check(f"{name}_without_pattern_is_committed_star", diff < 1e-5, f"max |diff| {diff:.3g} (float32 file)")
        DUO["retrieval"] = retrieval
        q_logits, cache = hf_forward(model, tokens[Cs:T], torch.arange(Cs, T, device=device), cache)
        generated = hf_greedy(model, q_logits[-1], T, cache, DUO_GENERATE)
        try:
            r_logits, r_generated = ref.star(tokens, Cs, B, A, T, DUO_GENERATE, (retrieval, DUO_SINK, DUO_RECENT))
            diff = max_abs(q_logits, r_logits)
            check(f"{name}_hf_vs_float64_reimplementation", diff < 1e-9 and generated == r_generated,
                  f"max |diff| {diff:.3g}, generated hf {generated} ref {r_generated}")
        except Exception:
            check(f"{name}_float64_reimplementation_ran", False, traceback.format_exc())
        print(f"  {name}: generated {generated}")
        save_file({"logits": f32(q_logits), "generated": f32(torch.tensor(generated)), "tokens": f32(tokens)},
                  os.path.join(out, f"{name}.safetensors"),
                  metadata={"context_len": str(Cs), "block_len": str(B), "anchor_len": str(A), "seq_len": str(T),
                            "generated_count": str(DUO_GENERATE), "duo_pattern": "duo_pattern_mixed",
                            "sink": str(DUO_SINK), "recent": str(DUO_RECENT)})
        results[name] = dict(file=f"{name}.safetensors", context_len=Cs, block_len=B, anchor_len=A, seq_len=T,
                             retrieval=retrieval, sink=DUO_SINK, recent=DUO_RECENT, generated=generated,
                             top2_margin_min=top2_margin(q_logits))
    DUO["retrieval"] = None
    return results


def main_duo(args, out, device, versions):
    """--only duo: the DuoAttention files from the committed checkpoint and tokens (data/)."""
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    ckpt_dir = args.checkpoint or os.path.join(data, "tiny-llama3")
    committed = load_file(os.path.join(data, "global_reference.safetensors"))
    tokens = committed["tokens"].to(torch.long).to(device)
    inv_freq = llama3_inv_freq_f64()
    model = load_duo_model(ckpt_dir, device, inv_freq)
    state = {k: v for k, v in model.state_dict().items()}
    ref = Reference(state, inv_freq, device)
    star_files = {}
    for (Cs, B, A) in STAR_DUO_CASES:
        path = os.path.join(data, f"star_C{Cs}_B{B}_A{A}.safetensors")
        if os.path.exists(path):
            star_files[(Cs, B, A)] = load_file(path)["logits"].double().to(device)
    with torch.no_grad():
        results = make_duo_references(model, ref, tokens, out, committed["logits"].double().to(device), star_files)
    summary = dict(versions=versions, checkpoint=os.path.relpath(ckpt_dir, os.path.dirname(data)),
                   tokens="data/global_reference.safetensors", sink=DUO_SINK, recent=DUO_RECENT,
                   patterns=DUO_PATTERNS, precision="float64 forward (HF LlamaForCausalLM, eager attention replaced "
                   "by the per-head duo rule; RMSNorm and RoPE patched to float64); stored as float32",
                   results=results, checks={k: dict(ok=v[0], detail=v[1]) for k, v in CHECKS.items()})
    with open(os.path.join(out, "duo_reference.json"), "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
    with tarfile.open(args.tar, "w") as tar:
        tar.add(out, arcname=".")
    print("wrote", args.tar)
    failed = [k for k, v in CHECKS.items() if not v[0]]
    print(f"{len(CHECKS) - len(failed)} checks passed, {len(failed)} failed: {failed}")
    return 1 if failed else 0


# ------------------------------------------------------------------------------ APB (--only apb)
# APB (arXiv 2502.12085) as decided for starbench (tests/reference/README.md, "APB references"), through HF's
# LlamaForCausalLM: the hosts run one after the other, each a whole forward on a fresh cache of its rows
# [anchor; block]; HF's eager attention is replaced by apb_eager_attention, which selects the host's passing
# block from the PRE-RoPE projections (forward hooks on q_proj/k_proj/v_proj) with the committed compressor,
# keeps it per (layer, host), and lets the block queries see the passing blocks of the earlier hosts (already
# computed: host h needs hosts < h only, so no lockstep is needed here — the numpy reference runs the hosts
# layer by layer instead). The result is compared with tests/reference/apb_reference.py (float64, in process)
# and with its committed files.

APB = dict(active=False, host=0, n_anchor=0, k_p=0, compressor=None, pre={}, passing={}, selected={}, calls=0)


def apb_select(layer, n_anchor, k_p):
    """The compressor on this host's rows: fc2(silu(fc1(concat(q, k, v)))) on the pre-RoPE projections, torch's
    max_pool1d (kernel 2 r + 1, padding r: the paper's call), then the top k_p rows per KV head among the block
    rows (a stable sort: ties to the lower row). -> rows of [anchor; block], [kv_heads, k_p], ascending."""
    q, k, v = (APB["pre"][(layer, name)][0] for name in ("q", "k", "v"))  # [L, heads * d] each
    fc1 = APB["compressor"][f"layers.{layer}.fc1.weight"]
    fc2 = APB["compressor"][f"layers.{layer}.fc2.weight"]
    scores = torch.nn.functional.silu(torch.cat([q, k, v], -1) @ fc1.T) @ fc2.T  # [L, kv_heads]
    r = numpy_apb.POOL_RADIUS
    pooled = torch.nn.functional.max_pool1d(scores.T[None], kernel_size=2 * r + 1, stride=1, padding=r)[0]
    order = torch.sort(-pooled[:, n_anchor:], dim=-1, stable=True).indices[:, :k_p]
    return torch.sort(order, dim=-1).values + n_anchor


def apb_eager_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """HF eager attention: APB's phase 1 while APB["active"] (one host's fresh cache: K = T rows [anchor; block]),
    else plain causal attention over the cache's rows (= positions: the blocks in order, then the query), which
    is star's phase 2 and the greedy tokens. HF's own mask is not used (no padding here)."""
    APB["calls"] += 1
    heads, T, K = query.shape[1], query.shape[2], key.shape[2]
    kv_heads = key.shape[1]
    dev = query.device
    allowed = torch.arange(K, device=dev)[None, :] <= torch.arange(K - T, K, device=dev)[:, None]  # [T, K]
    if APB["active"]:
        layer, host, n_anchor = module.layer_idx, APB["host"], APB["n_anchor"]
        if K != T:
            raise RuntimeError(f"APB phase 1 expects a fresh cache per host (layer {layer}: K {K}, T {T})")
        if APB["k_p"] > 0:
            rows = apb_select(layer, n_anchor, APB["k_p"])
        else:  # l_p = 0: no compressor work at all
            rows = torch.zeros((kv_heads, 0), dtype=torch.long, device=dev)
        head = torch.arange(kv_heads, device=dev)[:, None]
        APB["passing"][(layer, host)] = (key[0][head, rows], value[0][head, rows])  # post-RoPE [kv_heads, k_p, d]
        APB["selected"][(layer, host)] = rows.tolist()
        earlier = [APB["passing"][(layer, g)] for g in range(host)]
        pass_k = torch.cat([p[0] for p in earlier] + [key[0][:, :0]], 1)[None]
        pass_v = torch.cat([p[1] for p in earlier] + [value[0][:, :0]], 1)[None]
        # anchor queries see no passing row; block queries see all of them (then [anchor; block] causally)
        sees_passing = (torch.arange(T, device=dev) >= n_anchor)[:, None].expand(T, pass_k.shape[2])
        allowed = torch.cat([sees_passing, allowed], 1)
        key, value = torch.cat([pass_k, key], 2), torch.cat([pass_v, value], 2)
    group = heads // kv_heads
    k, v = key.repeat_interleave(group, 1), value.repeat_interleave(group, 1)
    scores = (query @ k.transpose(2, 3)) * scaling
    scores = scores.masked_fill(~allowed[None, None], float("-inf"))
    out = torch.softmax(scores, dim=-1) @ v
    return out.transpose(1, 2).contiguous(), None


def load_apb_model(ckpt_dir, device, inv_freq):
    """The checkpoint with apb_eager_attention and hooks that keep each layer's pre-RoPE q/k/v projections."""
    model = load_patched_model(ckpt_dir, device, inv_freq, apb_eager_attention, lambda: APB["calls"], "starbench_apb")
    for index, layer in enumerate(model.model.layers):
        for name in ("q", "k", "v"):
            def keep(module, inputs, output, key=(index, name)):
                APB["pre"][key] = output
            getattr(layer.self_attn, f"{name}_proj").register_forward_hook(keep)
    return model


def hf_apb(model, tokens, C, T, H, A, P, Q, generate):
    """APB through HF: phase 1 host by host, the blocks' KV into a DynamicCache, star's phase 2, greedy tokens.
    Returns the query logits, the greedy tokens and the selected rows [layer][host][kv_head]."""
    dev = tokens.device
    block = -(-C // H)  # ceil(C/H): starbench's StarLayout with block_size = C/H
    APB["passing"].clear()
    APB["selected"].clear()
    keys, values = [[] for _ in range(LAYERS)], [[] for _ in range(LAYERS)]
    for h in range(H):
        begin, end = h * block, min((h + 1) * block, C)
        anchor = tokens[0:0] if h == 0 else tokens[0:A]
        if h > 0 and Q:  # the context part of the anchor first, then the query (positions A..A+l_q-1)
            anchor = torch.cat([anchor, tokens[C:T]])
        ids = torch.cat([anchor, tokens[begin:end]])
        pos = torch.cat([torch.arange(anchor.numel(), device=dev), torch.arange(begin, end, device=dev)])
        APB.update(active=True, host=h, n_anchor=anchor.numel(), k_p=min(P, end - begin))
        try:
            _, cache = hf_forward(model, ids, pos, new_cache(model.config))
        finally:
            APB["active"] = False
        for layer in range(LAYERS):  # only the block's KV is kept
            k, v = cache_layer_kv(cache, layer)
            keys[layer].append(k[:, :, anchor.numel():, :])
            values[layer].append(v[:, :, anchor.numel():, :])
    cache = new_cache(model.config)
    for layer in range(LAYERS):
        cache.update(torch.cat(keys[layer], dim=2).contiguous(), torch.cat(values[layer], dim=2).contiguous(), layer)
    q_logits, cache = hf_forward(model, tokens[C:T], torch.arange(C, T, device=dev), cache)
    generated = hf_greedy(model, q_logits[-1], T, cache, generate)
    selected = [[APB["selected"][(layer, h)] for h in range(H)] for layer in range(LAYERS)]
    return q_logits, generated, selected


def main_apb(args, out, device, versions):
    """--only apb: the APB files through HF (same names as apb_reference.py's), checked against APB's limits, the
    numpy reference in process (float64) and the committed numpy files (float32)."""
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    ckpt_dir = args.checkpoint or os.path.join(data, "tiny-llama3")
    log = open(os.path.join(out, "apb_hf_reference.log"), "w")
    stdout, sys.stdout = sys.stdout, numpy_apb.Tee(sys.stdout, log)
    try:
        committed = load_file(os.path.join(data, "global_reference.safetensors"))
        tokens = committed["tokens"].to(torch.long).to(device)
        T, C = SEQ_LEN, CONTEXT_LEN
        inv_freq = llama3_inv_freq_f64()
        model = load_apb_model(ckpt_dir, device, inv_freq)
        compressor_dir = os.path.join(data, numpy_apb.COMPRESSOR_DIR)
        APB["compressor"] = {k: v.double().to(device)
                             for k, v in load_file(os.path.join(compressor_dir, "compressor.safetensors")).items()}
        np_model = numpy_apb.Llama(ckpt_dir)
        np_compressor = numpy_apb.load_compressor(compressor_dir)
        np_tokens = committed["tokens"].numpy().astype(np.int64)
        results = {}
        with torch.no_grad():
            APB["calls"] = 0
            plain, _ = hf_forward(model, tokens, torch.arange(T, device=device), new_cache(model.config))
            check("apb_patched_attention_runs", APB["calls"] > 0, f"{APB['calls']} calls")
            global_logits = committed["logits"].double().to(device)
            check("apb_patched_attention_without_apb_is_global_reference", max_abs(plain, global_logits) < 1e-5,
                  f"max |diff| {max_abs(plain, global_logits):.3g} (float32 file)")
            for H in (2, 4):  # no anchor, every block row passed: global
                q_logits, _, _ = hf_apb(model, tokens, C, T, H, 0, C // H, 0, STAR_GENERATE)
                diff = max_abs(q_logits, plain[C:T])
                check(f"hf_apb_H{H}_A0_P{C // H}_Q0_equals_global", diff < 1e-9, f"max |diff| {diff:.3g} (float64)")
            for A in (20, 8):  # nothing passed: star with the same anchor (blocks of 20 on 4 hosts)
                star = load_file(os.path.join(data, f"star_C80_B20_A{A}.safetensors"))
                q_logits, generated, _ = hf_apb(model, tokens, C, T, 4, A, 0, 0, STAR_GENERATE)
                diff = max_abs(q_logits, star["logits"].double().to(device))
                same = generated == [int(t) for t in star["generated"].tolist()]
                check(f"hf_apb_H4_A{A}_P0_Q0_equals_star_C80_B20_A{A}", diff < 1e-5 and same,
                      f"max |diff| {diff:.3g} (float32 file), generated {generated}")
            for case in numpy_apb.APB_CASES:
                name = numpy_apb.case_name(*case)
                q_logits, generated, selected = hf_apb(model, tokens, C, T, *case, STAR_GENERATE)
                np_tensors, metadata, _ = numpy_apb.build_case(np_model, np_compressor, np_tokens, *case)
                np_selection = json.loads(metadata["selection"])
                diff64 = max_abs(q_logits, torch.from_numpy(np_tensors["logits"]).to(device))
                same = generated == np_tensors["generated"].astype(int).tolist() and selected == np_selection["selected"]
                check(f"{name}_hf_vs_numpy_float64", diff64 < 1e-9 and same,
                      f"max |diff| {diff64:.3g}, generated hf {generated}, selection "
                      f"{'equal' if selected == np_selection['selected'] else 'DIFFERS'}")
                path = os.path.join(data, f"{name}.safetensors")
                if os.path.exists(path):  # the compare step: HF against the committed numpy data
                    stored, stored_metadata = safetensors_np.read(path)
                    diff32 = max_abs(q_logits, torch.from_numpy(stored["logits"]).to(device))
                    same = (generated == stored["generated"].astype(int).tolist()
                            and selected == json.loads(stored_metadata["selection"])["selected"])
                    check(f"{name}_hf_vs_committed_numpy", diff32 < 1e-5 and same,
                          f"max |diff| {diff32:.3g} (float32 file), generated and selection "
                          f"{'equal' if same else 'DIFFER'}")
                else:
                    check(f"{name}_committed_numpy_file_exists", False, f"{path} missing")
                    diff32 = None
                np_selection["selected"] = selected
                metadata.update(selection=json.dumps(np_selection, separators=(",", ":")),
                                made_by="tests/reference/make_reference.py --only apb (HF transformers, float64)")
                save_file({"logits": f32(q_logits), "generated": f32(torch.tensor(generated)), "tokens": f32(tokens)},
                          os.path.join(out, f"{name}.safetensors"), metadata=metadata)
                results[name] = dict(file=f"{name}.safetensors", generated=generated, max_abs_diff_vs_numpy=diff64,
                                     max_abs_diff_vs_committed_numpy=diff32, top2_margin_min=top2_margin(q_logits))
                print(f"  {name}: generated {generated}")
        summary = dict(versions=versions, checkpoint=os.path.relpath(ckpt_dir, os.path.dirname(data)),
                       tokens="data/global_reference.safetensors",
                       compressor=f"data/{numpy_apb.COMPRESSOR_DIR}/compressor.safetensors",
                       precision="float64 forward (HF LlamaForCausalLM, eager attention replaced by APB's; RMSNorm "
                                 "and RoPE patched to float64); stored as float32",
                       results=results, checks={k: dict(ok=v[0], detail=v[1]) for k, v in CHECKS.items()})
        with open(os.path.join(out, "apb_hf_reference.json"), "w") as f:
            json.dump(summary, f, indent=2, sort_keys=True)
        failed = [k for k, v in CHECKS.items() if not v[0]]
        print(f"{len(CHECKS) - len(failed)} checks passed, {len(failed)} failed: {failed}")
    finally:
        sys.stdout = stdout
        log.close()
    with tarfile.open(args.tar, "w") as tar:
        tar.add(out, arcname=".")
    print("wrote", args.tar)
    return 1 if failed else 0


# ------------------------------------------------ independent float64 re-implementation


class Reference:
    """Llama forward in plain float64 torch from the state dict: a check on HF."""

    def __init__(self, state, inv_freq, device):
        self.w = {k: v.to(device=device, dtype=torch.float64) for k, v in state.items()}
        self.inv = torch.tensor(inv_freq, dtype=torch.float64, device=device)

    def norm(self, x, weight):
        return weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS)

    def rope(self, x, pos):  # x [heads, L, d]
        ang = pos.double()[:, None] * self.inv[None, :]
        cos, sin = torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)
        half = HEAD_DIM // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * cos + rotated * sin

    def forward(self, ids, pos, past=None, duo=None):
        """past: per-layer (K, V) [KV_HEADS, Lp, d] seen fully; new tokens causal among themselves.
        duo: (retrieval [LAYERS][KV_HEADS] of 0/1, sink, recent): streaming heads see key j from query i
        only if j < sink or i - j < recent, on rows = positions (past rows are positions 0..Lp-1).
        Returns logits [L, V] and the new tokens' per-layer (K, V)."""
        w, L = self.w, ids.numel()
        x = w["model.embed_tokens.weight"][ids]
        new_kv = []
        for layer in range(LAYERS):
            p = f"model.layers.{layer}."
            h = self.norm(x, w[p + "input_layernorm.weight"])
            q = (h @ w[p + "self_attn.q_proj.weight"].T).view(L, HEADS, HEAD_DIM).transpose(0, 1)
            k = (h @ w[p + "self_attn.k_proj.weight"].T).view(L, KV_HEADS, HEAD_DIM).transpose(0, 1)
            v = (h @ w[p + "self_attn.v_proj.weight"].T).view(L, KV_HEADS, HEAD_DIM).transpose(0, 1)
            q, k = self.rope(q, pos), self.rope(k, pos)
            new_kv.append((k, v))
            if past is not None:
                k = torch.cat([past[layer][0], k], 1)
                v = torch.cat([past[layer][1], v], 1)
            Lp = k.shape[1] - L
            group = HEADS // KV_HEADS
            k, v = k.repeat_interleave(group, 0), v.repeat_interleave(group, 0)
            scores = q @ k.transpose(1, 2) / math.sqrt(HEAD_DIM)
            k_pos = torch.arange(Lp + L, device=ids.device)[None, :]
            q_pos = (Lp + torch.arange(L, device=ids.device))[:, None]
            allowed = (k_pos <= q_pos).expand(HEADS, L, Lp + L).clone()
            if duo is not None:
                retrieval, sink, recent = duo
                window = (k_pos <= q_pos) & ((k_pos < sink) | (q_pos - k_pos < recent))
                for h in range(HEADS):
                    if not retrieval[layer][h // group]:
                        allowed[h] = window
            scores = scores.masked_fill(~allowed, float("-inf"))
            attn = torch.softmax(scores, -1) @ v
            x = x + attn.transpose(0, 1).reshape(L, HEADS * HEAD_DIM) @ w[p + "self_attn.o_proj.weight"].T
            h = self.norm(x, w[p + "post_attention_layernorm.weight"])
            gate = h @ w[p + "mlp.gate_proj.weight"].T
            up = h @ w[p + "mlp.up_proj.weight"].T
            x = x + (torch.nn.functional.silu(gate) * up) @ w[p + "mlp.down_proj.weight"].T
        x = self.norm(x, w["model.norm.weight"])
        return x @ w["lm_head.weight"].T, new_kv

    def star(self, tokens, C, B, A, T, generate, duo=None):
        """Star Attention; with duo, phase 2 (query and greedy tokens) follows the duo rule."""
        dev = tokens.device
        kv = [([], []) for _ in range(LAYERS)]
        for start in range(0, C, B):
            end = min(start + B, C)
            if start == 0:
                ids, pos, keep = tokens[0:end], torch.arange(0, end, device=dev), 0
            else:
                ids = torch.cat([tokens[0:A], tokens[start:end]])
                pos = torch.cat([torch.arange(0, A, device=dev), torch.arange(start, end, device=dev)])
                keep = A
            _, new = self.forward(ids, pos)
            for layer in range(LAYERS):
                kv[layer][0].append(new[layer][0][:, keep:])
                kv[layer][1].append(new[layer][1][:, keep:])
        past = [(torch.cat(k, 1), torch.cat(v, 1)) for k, v in kv]
        logits, new = self.forward(tokens[C:T], torch.arange(C, T, device=dev), past, duo)
        generated, last = self.greedy(logits[-1], T, past, new, generate, duo)
        return logits, generated

    def duo(self, tokens, C, T, generate, duo):
        """DuoAttention on one rank: context, query and greedy tokens, all under the duo rule."""
        dev = tokens.device
        _, context_kv = self.forward(tokens[:C], torch.arange(C, device=dev), None, duo)
        logits, new = self.forward(tokens[C:T], torch.arange(C, T, device=dev), context_kv, duo)
        generated, _ = self.greedy(logits[-1], T, context_kv, new, generate, duo)
        return logits, generated

    def greedy(self, last_logits, next_pos, past, new, count, duo=None):
        dev = last_logits.device
        past = [(torch.cat([p[0], n[0]], 1), torch.cat([p[1], n[1]], 1)) for p, n in zip(past, new)]
        tokens, logits = [], last_logits
        for step in range(count):
            token = int(torch.argmax(logits))
            tokens.append(token)
            if step + 1 == count:
                break
            out, new = self.forward(torch.tensor([token], device=dev), torch.tensor([next_pos + step], device=dev), past,
                                    duo)
            past = [(torch.cat([p[0], n[0]], 1), torch.cat([p[1], n[1]], 1)) for p, n in zip(past, new)]
            logits = out[-1]
        return tokens, logits


# ---------------------------------------------------------------------------- output


def max_abs(a, b):
    return float((a.double() - b.double()).abs().max())


def f32(t):
    return t.detach().to(device="cpu", dtype=torch.float32).contiguous()


def top2_margin(logits):
    top = torch.topk(logits, 2, dim=-1).values
    return float((top[..., 0] - top[..., 1]).min())


def save_checkpoint(model, directory):
    model = model.to(torch.bfloat16)
    try:
        model.save_pretrained(directory, max_shard_size="300KB")
    except TypeError as e:  # a transformers without max_shard_size
        print("  save_pretrained(max_shard_size) failed:", e)
        model.save_pretrained(directory)
    index = os.path.join(directory, "model.safetensors.index.json")
    if not os.path.exists(index):  # this transformers ignored max_shard_size: shard by hand, same format
        single = os.path.join(directory, "model.safetensors")
        tensors = load_file(single)
        os.remove(single)
        names = sorted(tensors)
        halves = [names[: len(names) // 2], names[len(names) // 2:]]
        weight_map = {}
        for i, half in enumerate(halves):
            shard = f"model-{i + 1:05d}-of-00002.safetensors"
            save_file({n: tensors[n].contiguous() for n in half}, os.path.join(directory, shard), metadata={"format": "pt"})
            weight_map.update({n: shard for n in half})
        total = sum(t.numel() * t.element_size() for t in tensors.values())
        with open(index, "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
        print("  transformers wrote one file; resharded by hand into 2")


def write_config_layouts(config_path, data_dir):
    with open(config_path) as f:
        written = json.load(f)
    layout = "rope_parameters" if "rope_parameters" in written else "classic"
    print(f"  config.json written by transformers uses the {layout} layout")
    classic = {k: v for k, v in written.items() if k not in ("rope_parameters", "head_dim", "rope_scaling", "rope_theta")}
    classic["rope_theta"] = ROPE_THETA
    classic["rope_scaling"] = dict(ROPE)
    new = {k: v for k, v in written.items() if k not in ("rope_scaling", "rope_theta", "rope_parameters")}
    new["head_dim"] = HEAD_DIM
    new["rope_parameters"] = dict(ROPE, rope_theta=ROPE_THETA)
    for name, data in (("config_classic.json", classic), ("config_rope_parameters.json", new)):
        with open(os.path.join(data_dir, name), "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
    return layout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--tar", required=True, help="a tar of the output folder is written here")
    parser.add_argument("--only", choices=["all", "duo", "apb"], default="all",
                        help="duo: only the DuoAttention files, from the committed checkpoint and tokens; "
                             "apb: only the APB files (with the committed compressor), compared with the numpy ones")
    parser.add_argument("--checkpoint", help="--only duo/apb: checkpoint directory (default data/tiny-llama3)")
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    ckpt_dir = os.path.join(out, "tiny-llama3")

    device = "cuda" if torch.cuda.is_available() else "cpu"
    versions = dict(torch=torch.__version__, transformers=transformers.__version__, python=sys.version.split()[0],
                    numpy=np.__version__, device=torch.cuda.get_device_name(0) if device == "cuda" else "cpu")
    print("versions:", versions)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if args.only == "duo":
        return main_duo(args, out, device, versions)
    if args.only == "apb":
        return main_apb(args, out, device, versions)

    # 1. random model, rounded to bf16, saved sharded
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(make_config())
    init_weights(model)
    save_checkpoint(model, ckpt_dir)
    layout = write_config_layouts(os.path.join(ckpt_dir, "config.json"), out)
    shards = sorted(f for f in os.listdir(ckpt_dir) if f.endswith(".safetensors"))
    check("checkpoint_sharded", len(shards) >= 2, f"{shards}")
    del model

    # 2. reload through HF, upcast to float64
    model = LlamaForCausalLM.from_pretrained(ckpt_dir, attn_implementation="sdpa").double().to(device).eval()
    inv_freq = llama3_inv_freq_f64()
    patch_float64(model, inv_freq)
    state = {k: v for k, v in model.state_dict().items()}
    check("weights_are_bf16_values", all(torch.equal(v, v.to(torch.bfloat16).double()) for v in state.values()),
          "every float64 weight is exactly a bf16 value")
    ref = Reference(state, inv_freq, device)  # checks HF; its failures are recorded, not fatal

    gen = torch.Generator().manual_seed(SEED + 1)
    tokens = torch.randint(0, VOCAB, (SEQ_LEN,), generator=gen).to(device)
    T, C = SEQ_LEN, CONTEXT_LEN
    results = {}
    with torch.no_grad():
        # 3. global
        logits, cache = hf_forward(model, tokens, torch.arange(T, device=device), new_cache(model.config))
        generated = hf_greedy(model, logits[-1], T, cache, GLOBAL_GENERATE)
        try:  # a failure of the check must not lose the HF data
            ref_logits, ref_new = ref.forward(tokens, torch.arange(T, device=device))
            ref_generated, _ = ref.greedy(ref_logits[-1], T, [(k[:, :0], v[:, :0]) for k, v in ref_new], ref_new,
                                          GLOBAL_GENERATE)
            check("global_hf_vs_float64_reimplementation", max_abs(logits, ref_logits) < 1e-9,
                  f"max |diff| {max_abs(logits, ref_logits):.3g}, logits std {float(logits.std()):.3g}")
            check("global_generated_agree", generated == ref_generated, f"hf {generated} ref {ref_generated}")
        except Exception:
            check("global_float64_reimplementation_ran", False, traceback.format_exc())
        print(f"  global: top1-top2 margin min {top2_margin(logits):.3g}, generated {generated}")
        save_file({"tokens": f32(tokens), "logits": f32(logits), "query_logits": f32(logits[C:T]),
                   "generated": f32(torch.tensor(generated))},
                  os.path.join(out, "global_reference.safetensors"),
                  metadata={"seq_len": str(T), "context_len": str(C), "generated_count": str(GLOBAL_GENERATE)})
        results["global"] = dict(file="global_reference.safetensors", seq_len=T, context_len=C,
                                 generated=generated, tokens=[int(t) for t in tokens.tolist()],
                                 top2_margin_min=top2_margin(logits))

        # 4. star
        for (Cs, B, A) in STAR_CASES:
            name = f"star_C{Cs}_B{B}_A{A}"
            cache, block_logits = hf_star_cache(model, tokens, Cs, B, A)
            q_logits, cache = hf_forward(model, tokens[Cs:T], torch.arange(Cs, T, device=device), cache)
            star_generated = hf_greedy(model, q_logits[-1], T, cache, STAR_GENERATE)
            try:
                r_logits, r_generated = ref.star(tokens, Cs, B, A, T, STAR_GENERATE)
                diff = max_abs(q_logits, r_logits)
                check(f"{name}_hf_vs_float64_reimplementation", diff < 1e-9 and star_generated == r_generated,
                      f"max |diff| {diff:.3g}, generated hf {star_generated} ref {r_generated}")
            except Exception:
                check(f"{name}_float64_reimplementation_ran", False, traceback.format_exc())
            vs_global = max_abs(q_logits, logits[Cs:T]) if Cs == C else None  # other C: other query
            # Star Attention is exact when every block's anchor covers all the context
            # before it (one block, or two with A >= B): then it must equal global.
            exact = all(A >= start for start in range(B, Cs, B))
            if exact:
                check(f"{name}_equals_global", vs_global < 1e-9 and star_generated == generated[:STAR_GENERATE],
                      f"max |diff| vs global {vs_global:.3g}")
            elif vs_global is not None:  # block-sparse attention is an approximation: it must differ
                check(f"{name}_differs_from_global", vs_global > 1e-6, f"max |diff| vs global {vs_global:.3g}")
            # first block's phase-1 logits are global's (a causal prefix)
            check(f"{name}_first_block_is_global_prefix", max_abs(block_logits[:B], logits[:min(B, Cs)]) < 1e-9,
                  f"{max_abs(block_logits[:B], logits[:min(B, Cs)]):.3g}")
            print(f"  {name}: |star - global| max {vs_global}, generated {star_generated}")
            save_file({"logits": f32(q_logits), "generated": f32(torch.tensor(star_generated)),
                       "tokens": f32(tokens)},
                      os.path.join(out, f"{name}.safetensors"),
                      metadata={"context_len": str(Cs), "block_len": str(B), "anchor_len": str(A),
                                "seq_len": str(T), "generated_count": str(STAR_GENERATE)})
            results[name] = dict(file=f"{name}.safetensors", context_len=Cs, block_len=B, anchor_len=A, seq_len=T,
                                 generated=star_generated, max_abs_diff_vs_global=vs_global,
                                 top2_margin_min=top2_margin(q_logits))

        # 5. DuoAttention (and star + duo), through a second load with the patched eager attention
        star_files = {}
        for (Cs, B, A) in STAR_DUO_CASES:
            name = f"star_C{Cs}_B{B}_A{A}"
            if name in results:
                star_files[(Cs, B, A)] = load_file(os.path.join(out, f"{name}.safetensors"))["logits"].double().to(device)
        duo_model = load_duo_model(ckpt_dir, device, inv_freq)
        results.update(make_duo_references(duo_model, ref, tokens, out, logits, star_files))

    summary = dict(versions=versions, seed=SEED, config_json_layout=layout, shards=shards,
                   model=dict(vocab=VOCAB, hidden=HIDDEN, intermediate=INTER, layers=LAYERS, heads=HEADS,
                              kv_heads=KV_HEADS, head_dim=HEAD_DIM, rope_theta=ROPE_THETA, rope=ROPE,
                              max_position_embeddings=MAX_POS, rms_norm_eps=EPS),
                   precision="float64 forward (HF LlamaForCausalLM, sdpa; RMSNorm and RoPE patched to float64); "
                             "stored as float32",
                   inv_freq=[float(x) for x in inv_freq], results=results,
                   checks={k: dict(ok=v[0], detail=v[1]) for k, v in CHECKS.items()})
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)

    total = 0
    for root, _, files in os.walk(out):
        for fname in sorted(files):
            size = os.path.getsize(os.path.join(root, fname))
            total += size
            print(f"  {os.path.relpath(os.path.join(root, fname), out):60s} {size:9d} bytes")
    print(f"total {total} bytes")
    tar_path = args.tar
    with tarfile.open(tar_path, "w") as tar:
        tar.add(out, arcname=".")
    print("wrote", tar_path)
    failed = [k for k, v in CHECKS.items() if not v[0]]
    print(f"{len(CHECKS) - len(failed)} checks passed, {len(failed)} failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
