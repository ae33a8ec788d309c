#!/usr/bin/env python3
"""APB (arXiv 2502.12085) reference data for starbench, from an independent float64 numpy Llama-3.

Nothing here comes from transformers or torch: the tiny checkpoint's bf16 weights (data/tiny-llama3)
are read with safetensors_np.py and upcast to float64, and the forward pass is written out below
(embedding, RMSNorm, q/k/v, RoPE with llama3 scaling in HF's rotate_half convention, GQA attention
with explicit masks, SwiGLU, final norm, lm_head). Before anything is written the script checks
itself against the committed HF-transformers data (global and star): a forward that does not
reproduce those does not get to make APB data.

APB as decided in /work/notes/apb.md (and tests/reference/README.md, "APB references"):
  * H hosts, context C split into contiguous blocks of l_b = ceil(C/H) (the last may be shorter).
  * Host h > 0 prefixes an anchor: the first A context tokens (positions 0..A-1), then, with Q=1,
    the query tokens C..T-1 at positions A..A+l_q-1. Host 0 has no anchor.
  * Each layer, on its rows R = [anchor; block]: scores = fc2(silu(fc1(concat(q, k, v)))) on the
    PRE-RoPE projections, max-pooled along the rows (radius 2, over all of R), then the top l_p rows
    per KV head among the block rows (ties to the lower row); their POST-RoPE K and V are the host's
    passing block for that layer.
  * Host h's anchor queries see the anchor causally; its block queries see every passing row of hosts
    < h, the whole anchor and the block causally. Only the block's KV is kept.
  * Phase 2 is star's: the query tokens against the blocks' KV (positions C..T-1), then greedy tokens.

Usage: /usr/bin/python3 tests/reference/apb_reference.py [--out DIR]   (default: tests/reference/data)
         Writes DIR/apb_compressor_tiny/compressor.safetensors, DIR/apb_C80_H*_A*_P*_Q*.safetensors,
         DIR/apb_reference.json and DIR/apb_reference.log; exits non-zero when a self-check fails.
       /usr/bin/python3 tests/reference/apb_reference.py --compare DIR
         Compares DIR's APB files (make_reference.py --only apb, made with HF) with the committed ones.
"""
import argparse
import io
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
CHECKPOINT = os.path.join(DATA, "tiny-llama3")
COMPRESSOR_DIR = "apb_compressor_tiny"
SEQ_LEN, CONTEXT_LEN = 96, 80  # the tokens of global_reference.safetensors: context 0..79, query 80..95
STAR_GENERATE = 4
POOL_RADIUS = 2  # the paper's max_pool1d(kernel_size=5, padding=2, stride=1)

# (H, A, P, Q): hosts, anchor context tokens, passing rows per host per KV head, query in the anchor.
# The first four are apb.md's; (4, 8, 3, 0) is the query-off ablation with an anchor; (3, 8, 6, 1) has a
# shorter last block (l_b = 27: blocks 27, 27, 26).
APB_CASES = [(2, 8, 4, 1), (4, 8, 3, 1), (4, 0, 5, 0), (4, 16, 20, 1), (4, 8, 3, 0), (3, 8, 6, 1)]

# The tiny compressor: numpy's legacy RandomState (MT19937), whose stream numpy's compatibility policy
# freezes, so the file can be regenerated bit for bit anywhere.
COMPRESSOR_SEED, COMPRESSOR_HIDDEN = 20260524, 64
COMPRESSOR_GENERATOR = "numpy.random.RandomState(seed).standard_normal, float64, rounded to float32"
# fc1 std 1/sqrt(inputs) keeps fc1's outputs of order 1 (silu neither linear nor saturated); fc2 std 2/sqrt(hidden)
# gives scores of order 1 whose differences between neighbouring tokens are far above float32 rounding.
FC1_SCALE, FC2_SCALE = 1.0, 2.0
# Smallest accepted gap between the l_p-th selected pooled score and the best unselected one (exact ties
# excepted: those are copies made by the max-pool and resolved by the tie rule in every precision).
MIN_SELECTION_MARGIN = 1e-3

CHECKS = {}  # name -> {"ok", "detail"}; every check is recorded, the script exits non-zero if one failed


def check(name, ok, detail):
    CHECKS[name] = {"ok": bool(ok), "detail": detail}
    print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}")


# ------------------------------------------------------------------------------------------ model


def llama3_inv_freq(head_dim, rope):
    """HF's llama3 rope scaling (_compute_llama3_parameters), in float64."""
    inv = 1.0 / (rope["rope_theta"] ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old = rope["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old / low, old / high
    wavelen = 2 * math.pi / inv
    scaled = np.where(wavelen > low_wavelen, inv / factor, inv)  # long wavelengths: divided by factor
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)  # in between: interpolated
    return np.where(medium, smoothed, scaled)


class Llama:
    """The tiny Llama-3 in float64 numpy. K/V are kept as [rows, kv_heads, head_dim] (starbench's layout)."""

    def __init__(self, checkpoint=CHECKPOINT):
        with open(os.path.join(checkpoint, "config.json")) as f:
            cfg = json.load(f)
        self.layers, self.heads, self.kv_heads = cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg[
            "num_key_value_heads"]
        self.head_dim, self.eps, self.vocab = cfg["head_dim"], cfg["rms_norm_eps"], cfg["vocab_size"]
        rope = cfg["rope_parameters"]
        if rope.get("rope_type") != "llama3":
            raise ValueError(f"{checkpoint}/config.json: rope_type {rope.get('rope_type')!r}, expected llama3")
        self.inv_freq = llama3_inv_freq(self.head_dim, rope)
        with open(os.path.join(checkpoint, "model.safetensors.index.json")) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        self.w = {}
        for shard in shards:
            tensors, _ = safetensors_np.read(os.path.join(checkpoint, shard))
            self.w.update({k: v.astype(np.float64) for k, v in tensors.items()})  # bf16 values, exactly

    def norm(self, x, weight):
        return weight * (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps))

    def rope(self, x, pos):
        """x [L, heads, d] at positions pos [L]; HF's rotate_half: pairs (i, i + d/2)."""
        angle = np.asarray(pos, dtype=np.float64)[:, None] * self.inv_freq[None, :]
        cos = np.concatenate([np.cos(angle), np.cos(angle)], -1)[:, None, :]
        sin = np.concatenate([np.sin(angle), np.sin(angle)], -1)[:, None, :]
        half = self.head_dim // 2
        rotated = np.concatenate([-x[..., half:], x[..., :half]], -1)
        return x * cos + rotated * sin

    def embed(self, ids):
        return self.w["model.embed_tokens.weight"][np.asarray(ids)]

    def qkv(self, layer, x):
        """The PRE-RoPE projections of the layer's normed input: q [L, heads, d], k and v [L, kv_heads, d]."""
        p = f"model.layers.{layer}."
        h = self.norm(x, self.w[p + "input_layernorm.weight"])
        q = h @ self.w[p + "self_attn.q_proj.weight"].T
        k = h @ self.w[p + "self_attn.k_proj.weight"].T
        v = h @ self.w[p + "self_attn.v_proj.weight"].T
        L, d = x.shape[0], self.head_dim
        return q.reshape(L, self.heads, d), k.reshape(L, self.kv_heads, d), v.reshape(L, self.kv_heads, d)

    def attend(self, q, k, v, allowed):
        """q [L, heads, d] against k, v [K, kv_heads, d]; allowed [L, K] (same for every head). -> [L, heads * d]."""
        group = self.heads // self.kv_heads
        kh = np.repeat(k.transpose(1, 0, 2), group, axis=0)  # [heads, K, d]: query head i uses KV head i // group
        vh = np.repeat(v.transpose(1, 0, 2), group, axis=0)
        scores = q.transpose(1, 0, 2) @ kh.transpose(0, 2, 1) / math.sqrt(self.head_dim)  # [heads, L, K]
        scores = np.where(allowed[None], scores, -np.inf)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        out = (scores / scores.sum(-1, keepdims=True)) @ vh  # [heads, L, d]
        return out.transpose(1, 0, 2).reshape(q.shape[0], -1)

    def finish_layer(self, layer, x, attn):
        """Residual + o_proj, then the SwiGLU MLP with its residual."""
        p = f"model.layers.{layer}."
        x = x + attn @ self.w[p + "self_attn.o_proj.weight"].T
        h = self.norm(x, self.w[p + "post_attention_layernorm.weight"])
        gate = h @ self.w[p + "mlp.gate_proj.weight"].T
        up = h @ self.w[p + "mlp.up_proj.weight"].T
        return x + (gate / (1.0 + np.exp(-gate)) * up) @ self.w[p + "mlp.down_proj.weight"].T

    def logits(self, x):
        return self.norm(x, self.w["model.norm.weight"]) @ self.w["lm_head.weight"].T

    def forward(self, ids, pos, past=None):
        """ids at positions pos, after past (per layer (K, V) [P, kv_heads, d], seen whole); causal among
        the new rows. Returns logits [L, vocab] and the new rows' post-RoPE (K, V) per layer."""
        x, L = self.embed(ids), len(ids)
        P = 0 if past is None else past[0][0].shape[0]
        allowed = np.arange(P + L)[None, :] <= (P + np.arange(L))[:, None]
        new_kv = []
        for layer in range(self.layers):
            q, k, v = self.qkv(layer, x)
            q, k = self.rope(q, pos), self.rope(k, pos)
            new_kv.append((k, v))
            if past is not None:
                k, v = np.concatenate([past[layer][0], k]), np.concatenate([past[layer][1], v])
            x = self.finish_layer(layer, x, self.attend(q, k, v, allowed))
        return self.logits(x), new_kv


def extend(past, new):
    return [(np.concatenate([p[0], n[0]]), np.concatenate([p[1], n[1]])) for p, n in zip(past, new)]


def greedy(model, last_logits, next_pos, past, count):
    """count greedy tokens: the first from last_logits, each later one from a one-token step on past."""
    tokens, logits = [], last_logits
    for step in range(count):
        tokens.append(int(np.argmax(logits)))  # first maximum on ties, like torch.argmax
        if step + 1 == count:
            break
        out, new = model.forward([tokens[-1]], [next_pos + step], past)
        past, logits = extend(past, new), out[-1]
    return tokens


def query_phase(model, tokens, C, T, past, generate):
    """Star's phase 2 (APB's too): the query tokens C..T-1 against the context KV, then greedy tokens."""
    logits, new = model.forward(tokens[C:T], np.arange(C, T), past)
    return logits, greedy(model, logits[-1], T, extend(past, new), generate)


def star(model, tokens, C, B, A, T, generate):
    """Star Attention (tests/reference/README.md): block 0 alone, block b > 0 after the anchor tokens[0:A]
    at positions 0..A-1; only the blocks' KV is kept, in order."""
    blocks = []
    for start in range(0, C, B):
        end = min(start + B, C)
        keep = 0 if start == 0 else A
        ids = np.concatenate([tokens[0:keep], tokens[start:end]])
        pos = np.concatenate([np.arange(keep), np.arange(start, end)])
        _, kv = model.forward(ids, pos)
        blocks.append([(k[keep:], v[keep:]) for k, v in kv])
    past = [(np.concatenate([b[l][0] for b in blocks]), np.concatenate([b[l][1] for b in blocks]))
            for l in range(model.layers)]
    return query_phase(model, tokens, C, T, past, generate)


# ------------------------------------------------------------------------------------------- APB


def silu(x):
    return x / (1.0 + np.exp(-x))


def compressor_scores(compressor, layer, q, k, v):
    """The retaining head: fc2(silu(fc1(concat(q, k, v)))) per row, features in the order q, k, v
    (each flattened head-major, as the q/k/v projections' outputs). -> [rows, kv_heads]."""
    L = q.shape[0]
    features = np.concatenate([q.reshape(L, -1), k.reshape(L, -1), v.reshape(L, -1)], axis=1)
    fc1, fc2 = compressor[f"layers.{layer}.fc1.weight"], compressor[f"layers.{layer}.fc2.weight"]
    return silu(features @ fc1.T) @ fc2.T


def max_pool_rows(x, radius):
    """out[t] = max of x[t - radius .. t + radius] clipped to the rows (max_pool1d's padding never wins)."""
    T = x.shape[0]
    return np.stack([x[max(0, t - radius):min(T, t + radius + 1)].max(axis=0) for t in range(T)])


def top_k_rows(scores, row_begin, k):
    """Per column: the rows of its k largest values among rows [row_begin, T), ascending; ties to the lower
    row (a stable sort of the negated scores keeps equal values in row order). -> int [columns, k]."""
    rows = []
    for column in scores.T:
        order = np.argsort(-column[row_begin:], kind="stable")[:k]
        rows.append(np.sort(order) + row_begin)
    return np.array(rows, dtype=np.int64).reshape(scores.shape[1], k)


def selection_margin(scores, row_begin, selected):
    """The gap between the smallest selected score and the largest unselected one that is strictly smaller
    (exact equality is a max-pool copy: the tie rule settles it in every precision); inf if nothing is left.
    Also the number of columns where an unselected row ties the smallest selected one (the tie rule decided)."""
    margins, ties = [], 0
    for column, rows in zip(scores.T, selected):
        chosen = np.zeros(len(column), bool)
        chosen[rows] = True
        candidates = column[row_begin:][~chosen[row_begin:]]
        if len(rows) == 0 or len(candidates) == 0:
            continue
        floor = column[rows].min()
        below = candidates[candidates < floor]
        if np.any(candidates > floor):
            return -1.0, ties  # an unselected row beats a selected one: the selection is wrong
        ties += int(np.any(candidates == floor))
        if len(below):
            margins.append(float(floor - below.max()))
    return min(margins, default=math.inf), ties


def apb_layout(C, H):
    """Contiguous blocks of ceil(C/H) rows (starbench's StarLayout with block_size = C/H)."""
    block = -(-C // H)
    return [(h * block, min((h + 1) * block, C)) for h in range(H)]


def apb_host_rows(tokens, C, T, begin, end, h, A, Q):
    """Host h's rows R = [anchor; block]: ids, positions and the anchor's length."""
    if h == 0:
        anchor_ids, anchor_pos = np.zeros(0, np.int64), np.zeros(0, np.int64)
    else:
        anchor_ids, anchor_pos = tokens[0:A], np.arange(A)
        if Q:  # our order: the anchor's context part, then the query right after it (positions A..A+l_q-1)
            anchor_ids = np.concatenate([anchor_ids, tokens[C:T]])
            anchor_pos = np.arange(A + T - C)
    ids = np.concatenate([anchor_ids, tokens[begin:end]])
    pos = np.concatenate([anchor_pos, np.arange(begin, end)])
    return ids, pos, len(anchor_ids)


def apb_mask(n_passing, n_anchor, rows):
    """allowed [rows, n_passing + rows]: anchor queries see the anchor causally and no passing row; block
    queries see every passing row, the whole anchor and the block causally (causal over [anchor; block])."""
    causal = np.arange(rows)[None, :] <= np.arange(rows)[:, None]
    passing = np.repeat((np.arange(rows) >= n_anchor)[:, None], n_passing, axis=1)
    return np.concatenate([passing, causal], axis=1)


def apb_context(model, compressor, tokens, C, T, H, A, P, Q):
    """APB's phase 1 on H hosts, layer by layer in lockstep (host h needs the passing blocks of hosts < h of the
    same layer). Returns the blocks' KV per layer (in host order: the context's positions 0..C-1), the selected
    rows [layer][host][kv_head] (rows of R, i.e. top_k_rows' indices with row_begin = anchor rows) and the
    smallest selection margin, how many (layer, host, KV head) selections the tie rule decided (of how many) and
    layer 0's compressor scores before the pool, per host ([rows of R, kv_heads]; none when l_p = 0)."""
    hosts = []
    for h, (begin, end) in enumerate(apb_layout(C, H)):
        ids, pos, n_anchor = apb_host_rows(tokens, C, T, begin, end, h, A, Q)
        # l_p > block rows (only a shorter last block can see this): clamped to the block's rows
        hosts.append(dict(x=model.embed(ids), pos=pos, n_anchor=n_anchor, k_p=min(P, end - begin)))
    kept = [([], []) for _ in range(model.layers)]
    selected, margin, tie_decided, selections, layer0_scores = [], math.inf, 0, 0, []
    for layer in range(model.layers):
        # 1. every host: projections, RoPE and, with l_p > 0, its passing block
        for host in hosts:
            q, k, v = model.qkv(layer, host["x"])
            host["q"], host["k"], host["v"] = model.rope(q, host["pos"]), model.rope(k, host["pos"]), v
            host["rows"] = np.zeros((model.kv_heads, 0), np.int64)
            if host["k_p"] > 0:
                raw = compressor_scores(compressor, layer, q, k, v)
                if layer == 0:  # layer 0's input is the embedding alone: a C++ test can check these directly
                    layer0_scores.append(raw)
                pooled = max_pool_rows(raw, POOL_RADIUS)
                host["rows"] = top_k_rows(pooled, host["n_anchor"], host["k_p"])
                host_margin, host_ties = selection_margin(pooled, host["n_anchor"], host["rows"])
                margin, tie_decided, selections = min(margin, host_margin), tie_decided + host_ties, selections + 1
            heads = np.arange(model.kv_heads)[None, :]
            host["pass_k"] = host["k"][host["rows"].T, heads]  # [k_p, kv_heads, d]: row i of head j = rows[j, i]
            host["pass_v"] = host["v"][host["rows"].T, heads]
        selected.append([host["rows"].tolist() for host in hosts])
        # 2. every host: attention over [passing blocks of hosts < h; anchor; block], then the MLP
        for h, host in enumerate(hosts):
            pass_k = np.concatenate([hosts[g]["pass_k"] for g in range(h)] + [host["k"][:0]])
            pass_v = np.concatenate([hosts[g]["pass_v"] for g in range(h)] + [host["v"][:0]])
            allowed = apb_mask(pass_k.shape[0], host["n_anchor"], host["x"].shape[0])
            attn = model.attend(host["q"], np.concatenate([pass_k, host["k"]]), np.concatenate([pass_v, host["v"]]),
                                allowed)
            kept[layer][0].append(host["k"][host["n_anchor"]:])  # only the block's KV is kept
            kept[layer][1].append(host["v"][host["n_anchor"]:])
            host["next_x"] = model.finish_layer(layer, host["x"], attn)
        for host in hosts:
            host["x"] = host["next_x"]
    past = [(np.concatenate(k), np.concatenate(v)) for k, v in kept]
    return past, selected, dict(margin=margin, tie_decided=tie_decided, selections=selections * model.kv_heads,
                                layer0_scores=layer0_scores)


def apb(model, compressor, tokens, C, T, H, A, P, Q, generate):
    past, selected, stats = apb_context(model, compressor, tokens, C, T, H, A, P, Q)
    logits, generated = query_phase(model, tokens, C, T, past, generate)
    return logits, generated, selected, stats


# ------------------------------------------------------------------------------------ compressor


def make_compressor(model, seed=COMPRESSOR_SEED, hidden=COMPRESSOR_HIDDEN):
    """Seeded float32 fc1 [hidden, (heads + 2 kv_heads) d] and fc2 [kv_heads, hidden] per layer, in layer order,
    fc1 before fc2, from one stream."""
    rng = np.random.RandomState(seed)
    inputs = (model.heads + 2 * model.kv_heads) * model.head_dim
    tensors = {}
    for layer in range(model.layers):
        fc1 = FC1_SCALE / math.sqrt(inputs) * rng.standard_normal((hidden, inputs))
        fc2 = FC2_SCALE / math.sqrt(hidden) * rng.standard_normal((model.kv_heads, hidden))
        tensors[f"layers.{layer}.fc1.weight"] = fc1.astype(np.float32)
        tensors[f"layers.{layer}.fc2.weight"] = fc2.astype(np.float32)
    return tensors


def compressor_metadata(seed=COMPRESSOR_SEED, hidden=COMPRESSOR_HIDDEN):
    return {"format": "starbench-apb-compressor",
            "source": f"tests/reference/apb_reference.py: synthetic test compressor for data/tiny-llama3, "
                      f"hidden {hidden}, {COMPRESSOR_GENERATOR}, fc1 std {FC1_SCALE}/sqrt(inputs), "
                      f"fc2 std {FC2_SCALE}/sqrt(hidden), layer order, fc1 then fc2",
            "seed": str(seed), "generator": COMPRESSOR_GENERATOR, "hidden": str(hidden)}


def load_compressor(directory):
    """The compressor file as float64 (F32 or BF16 values upcast), shapes as written."""
    tensors, metadata = safetensors_np.read(os.path.join(directory, "compressor.safetensors"))
    if metadata.get("format") != "starbench-apb-compressor":
        raise ValueError(f"{directory}/compressor.safetensors: __metadata__ format {metadata.get('format')!r}, "
                         f"expected 'starbench-apb-compressor'")
    return {k: v.astype(np.float64) for k, v in tensors.items()}


# ------------------------------------------------------------------------------------ self-checks


def committed(name):
    return safetensors_np.read(os.path.join(DATA, name))[0]


def rounding_check(name, ours, stored):
    """stored is the float32 rounding of a float64 result (HF's): ours must round to it. Report the max |diff|
    and the max |diff| in float32 ulps of stored (<= 0.5 plus float64 noise when ours is the same float64)."""
    diff = np.abs(ours - stored.astype(np.float64))
    ulp = np.spacing(np.abs(stored)).astype(np.float64)
    in_ulps = float((diff / ulp).max())
    same = float(np.mean(ours.astype(np.float32) == stored))
    check(name, in_ulps <= 0.5 + 1e-6,
          f"max |diff| {diff.max():.3g}, max {in_ulps:.6f} float32 ulp, {100 * same:.2f}% bitwise after rounding")
    return float(diff.max())


def primitive_checks():
    """The pool and the tie rule on hand-made numbers (the semantics every backend must share)."""
    x = np.array([[0.0], [3.0], [1.0], [1.0], [2.0], [0.5], [0.0], [4.0]])
    pooled = max_pool_rows(x, 2)
    check("max_pool_rows_clips_at_the_edges", pooled[:, 0].tolist() == [3, 3, 3, 3, 2, 4, 4, 4],
          f"{pooled[:, 0].tolist()}")
    ties = np.array([[5.0, 1.0], [2.0, 7.0], [7.0, 7.0], [7.0, 0.0], [7.0, 7.0], [1.0, 7.0]])
    rows = top_k_rows(ties, 1, 2)
    check("top_k_rows_ties_go_to_the_lower_row", rows.tolist() == [[2, 3], [1, 2]], f"{rows.tolist()}")


def model_checks(model):
    """The float64 forward against the committed HF-transformers data (float32 roundings of HF's float64)."""
    with open(os.path.join(DATA, "reference.json")) as f:
        inv_committed = np.array(json.load(f)["inv_freq"])
    rel = float(np.max(np.abs(model.inv_freq - inv_committed) / inv_committed))
    check("llama3_inv_freq_matches_reference_json", rel < 1e-14, f"max rel diff {rel:.3g}")
    ref = committed("global_reference.safetensors")
    tokens = ref["tokens"].astype(np.int64)
    T = SEQ_LEN
    logits, kv = model.forward(tokens, np.arange(T))
    generated = greedy(model, logits[-1], T, kv, len(ref["generated"]))
    diffs = {"global": rounding_check("global_logits_match_hf", logits, ref["logits"])}
    check("global_generated_match_hf", generated == ref["generated"].astype(int).tolist(), f"{generated}")
    stars = {}
    for (Cs, B, A) in [(80, 20, 20), (80, 20, 8), (80, 10, 10)]:
        name = f"star_C{Cs}_B{B}_A{A}"
        stored = committed(f"{name}.safetensors")
        q_logits, q_generated = star(model, tokens, Cs, B, A, T, STAR_GENERATE)
        diffs[name] = rounding_check(f"{name}_logits_match_hf", q_logits, stored["logits"])
        check(f"{name}_generated_match_hf", q_generated == stored["generated"].astype(int).tolist(), f"{q_generated}")
        stars[(B, A)] = q_logits
    return tokens, logits, stars, diffs


def apb_checks(model, compressor, tokens, global_logits, stars):
    """APB's limits: no anchor and l_p = l_b is global; l_p = 0 is star with the same anchor; the passing block
    and the query in the anchor change the result."""
    T, C = SEQ_LEN, CONTEXT_LEN
    diffs = {}
    for H in (2, 4):
        logits, _, _, _ = apb(model, compressor, tokens, C, T, H, 0, C // H, 0, STAR_GENERATE)
        diff = float(np.abs(logits - global_logits[C:T]).max())
        check(f"apb_H{H}_A0_P{C // H}_Q0_equals_global", diff < 1e-12, f"max |diff| {diff:.3g} (float64 vs float64)")
        diffs[f"apb_H{H}_A0_Pfull_Q0_vs_global"] = diff
    for A in (20, 8):  # l_b = 20 with H = 4: star_C80_B20_A{A}
        logits, generated, _, _ = apb(model, compressor, tokens, C, T, 4, A, 0, 0, STAR_GENERATE)
        diff = float(np.abs(logits - stars[(20, A)]).max())
        check(f"apb_H4_A{A}_P0_Q0_equals_star_C80_B20_A{A}", diff < 1e-12, f"max |diff| {diff:.3g} (float64)")
        diffs[f"apb_H4_A{A}_P0_Q0_vs_star"] = diff
        diffs[f"apb_H4_A{A}_P0_Q0_vs_committed_star"] = rounding_check(
            f"apb_H4_A{A}_P0_Q0_matches_committed_star_C80_B20_A{A}", logits,
            committed(f"star_C80_B20_A{A}.safetensors")["logits"])
    base = apb(model, compressor, tokens, C, T, 4, 8, 3, 1, STAR_GENERATE)[0]
    for label, other in (("passing_block_matters", apb(model, compressor, tokens, C, T, 4, 8, 0, 1, STAR_GENERATE)[0]),
                         ("query_in_anchor_matters", apb(model, compressor, tokens, C, T, 4, 8, 3, 0,
                                                         STAR_GENERATE)[0])):
        diff = float(np.abs(base - other).max())
        check(f"apb_H4_A8_P3_Q1_{label}", diff > 1e-3, f"max |diff| {diff:.3g} vs the case without it")
        diffs[f"apb_H4_A8_P3_Q1_{label}"] = diff
    return diffs


# ---------------------------------------------------------------------------------------- output


def case_name(H, A, P, Q):
    return f"apb_C{CONTEXT_LEN}_H{H}_A{A}_P{P}_Q{Q}"


def build_case(model, compressor, tokens, H, A, P, Q):
    """One APB case: (tensors for the file, metadata, summary)."""
    T, C = SEQ_LEN, CONTEXT_LEN
    logits, generated, selected, stats = apb(model, compressor, tokens, C, T, H, A, P, Q, STAR_GENERATE)
    layout = apb_layout(C, H)
    anchor_rows = [apb_host_rows(tokens, C, T, b, e, h, A, Q)[2] for h, (b, e) in enumerate(layout)]
    selection = {"rows": "selected[layer][host][kv_head]: rows of the host's [anchor; block] (top_k_rows' indices with "
                         "row_begin = anchor_rows[host]), ascending",
                 "anchor_rows": anchor_rows, "blocks": [list(b) for b in layout], "selected": selected}
    top2 = np.sort(logits, axis=-1)[:, -2:]
    summary = dict(file=f"{case_name(H, A, P, Q)}.safetensors", hosts=H, anchor_len=A, passing_len=P,
                   query_in_anchor=bool(Q), block_len=layout[0][1] - layout[0][0], context_len=C, seq_len=T,
                   generated=generated,  # None: every block row was selected (nothing left to compare with)
                   selection_margin_min=None if math.isinf(stats["margin"]) else stats["margin"],
                   selections_decided_by_tie_rule=f"{stats['tie_decided']} of {stats['selections']}",
                   top2_margin_min=float((top2[:, 1] - top2[:, 0]).min()),
                   max_abs_diff_vs_global=None)
    metadata = {"context_len": str(C), "seq_len": str(T), "hosts": str(H), "anchor_len": str(A),
                "passing_len": str(P), "query_in_anchor": str(Q), "block_len": str(summary["block_len"]),
                "generated_count": str(STAR_GENERATE), "pool_radius": str(POOL_RADIUS),
                "compressor": f"{COMPRESSOR_DIR}/compressor.safetensors",
                "anchor_order": "context tokens 0..A-1 at positions 0..A-1, then (Q=1) the query tokens C..T-1 at "
                                "positions A..A+T-C-1",
                "selection": json.dumps(selection, separators=(",", ":")),
                "made_by": "tests/reference/apb_reference.py (float64 numpy)"}
    tensors = {"logits": logits, "generated": np.array(generated, np.float64), "tokens": tokens.astype(np.float64)}
    for h, scores in enumerate(stats["layer0_scores"]):
        tensors[f"layer0_scores_host{h}"] = scores
    return tensors, metadata, summary


def float32_tensors(tensors):
    return {k: v.astype(np.float32) for k, v in tensors.items()}


class Tee(io.TextIOBase):
    """stdout to the terminal and to the log."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self):
        for s in self.streams:
            s.flush()


def run(out):
    model = Llama()
    print("1. primitives and the float64 forward against the committed HF data")
    primitive_checks()
    tokens, global_logits, stars, diffs = model_checks(model)

    print("2. the tiny compressor")
    os.makedirs(os.path.join(out, COMPRESSOR_DIR), exist_ok=True)
    comp_path = os.path.join(out, COMPRESSOR_DIR, "compressor.safetensors")
    safetensors_np.write(comp_path, make_compressor(model), compressor_metadata())
    compressor = load_compressor(os.path.join(out, COMPRESSOR_DIR))  # what the C++ reads: the float32 values
    q, k, v = model.qkv(0, model.embed(tokens[:CONTEXT_LEN]))
    raw = compressor_scores(compressor, 0, q, k, v)
    # Layer 0's input depends on the token alone, so repeated tokens repeat their scores: count distinct tokens.
    distinct_tokens = len(np.unique(tokens[:CONTEXT_LEN]))
    distinct = min(len(np.unique(raw[:, j])) for j in range(raw.shape[1]))
    check("compressor_scores_vary", raw.std(axis=0).min() > 0.1 and distinct == distinct_tokens,
          f"layer 0 on the context: std over tokens {np.round(raw.std(axis=0), 3).tolist()}, "
          f"{distinct} distinct scores per KV head for {distinct_tokens} distinct tokens")

    print("3. APB's limits")
    diffs.update(apb_checks(model, compressor, tokens, global_logits, stars))

    print("4. the APB cases")
    results = {}
    for case in APB_CASES:
        tensors, metadata, summary = build_case(model, compressor, tokens, *case)
        summary["max_abs_diff_vs_global"] = float(np.abs(tensors["logits"] - global_logits[CONTEXT_LEN:]).max())
        name = case_name(*case)
        margin = summary["selection_margin_min"]
        margin_text = "None (all rows selected)" if margin is None else f"{margin:.3g}"
        check(f"{name}_selection_margin", margin is None or margin > MIN_SELECTION_MARGIN,
              f"min {margin_text} (> {MIN_SELECTION_MARGIN})")
        check(f"{name}_differs_from_global", summary["max_abs_diff_vs_global"] > 1e-3,
              f"max |diff| {summary['max_abs_diff_vs_global']:.3g}")
        safetensors_np.write(os.path.join(out, f"{name}.safetensors"), float32_tensors(tensors), metadata)
        print(f"  {name}: generated {summary['generated']}, selection margin {margin_text}, "
              f"tie rule decided {summary['selections_decided_by_tie_rule']} selections, "
              f"top2 margin {summary['top2_margin_min']:.3g}")
        results[name] = summary

    summary = dict(made_by="tests/reference/apb_reference.py", numpy=np.__version__, python=sys.version.split()[0],
                   precision="float64 numpy forward from the bf16 checkpoint; stored as float32",
                   checkpoint="data/tiny-llama3", tokens="data/global_reference.safetensors",
                   compressor=dict(file=f"{COMPRESSOR_DIR}/compressor.safetensors", seed=COMPRESSOR_SEED,
                                   hidden=COMPRESSOR_HIDDEN, generator=COMPRESSOR_GENERATOR,
                                   fc1_scale=FC1_SCALE, fc2_scale=FC2_SCALE),
                   semantics=dict(anchor_order="context tokens first (positions 0..A-1), then with Q=1 the query "
                                               "tokens (positions A..A+l_q-1); host 0 has no anchor",
                                  pool_radius=POOL_RADIUS, ties="lower row",
                                  passing_clamp="l_p > block rows is clamped to the block's rows"),
                   cases=results, max_diffs=diffs, checks=CHECKS)
    with open(os.path.join(out, "apb_reference.json"), "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
        f.write("\n")
    failed = [k for k, v in CHECKS.items() if not v["ok"]]
    print(f"{len(CHECKS) - len(failed)} checks passed, {len(failed)} failed: {failed}")
    return 1 if failed else 0


def compare(other):
    """The APB case files of another folder (make_reference.py --only apb's, made with HF) against the committed
    numpy ones: max |diff| of the logits, the greedy tokens and the selected rows. -> exit status."""
    worst, bad = 0.0, []
    for case in APB_CASES:
        name = case_name(*case)
        ours, ours_meta = safetensors_np.read(os.path.join(DATA, f"{name}.safetensors"))
        path = os.path.join(other, f"{name}.safetensors")
        if not os.path.exists(path):
            bad.append(f"{name}: {path} missing")
            continue
        theirs, theirs_meta = safetensors_np.read(path)
        diff = float(np.abs(ours["logits"].astype(np.float64) - theirs["logits"]).max())
        same_tokens = np.array_equal(ours["generated"], theirs["generated"])
        same_rows = json.loads(ours_meta["selection"])["selected"] == json.loads(theirs_meta["selection"])["selected"]
        worst = max(worst, diff)
        print(f"  {name}: max |diff| {diff:.3g}, generated {'equal' if same_tokens else 'DIFFER'}, "
              f"selected rows {'equal' if same_rows else 'DIFFER'}")
        if diff > 1e-5 or not same_tokens or not same_rows:
            bad.append(name)
    print(f"max |diff| over the cases {worst:.3g} (float32 files); {'all agree' if not bad else f'differ: {bad}'}")
    return 1 if bad else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DATA, help="output folder (default: tests/reference/data)")
    parser.add_argument("--compare", metavar="DIR",
                        help="only compare DIR's apb_C80_* files (make_reference.py --only apb) with the committed ones")
    args = parser.parse_args()
    if args.compare:
        return compare(args.compare)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "apb_reference.log"), "w") as log:
        stdout, sys.stdout = sys.stdout, Tee(sys.stdout, log)
        try:
            return run(args.out)
        finally:
            sys.stdout = stdout


if __name__ == "__main__":
    sys.exit(main())
