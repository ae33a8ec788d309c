#!/usr/bin/env python3
"""Trains the tiny retrieval Llama-3 on starbench's own tasks, in one call of a
few minutes on one GPU (or across calls with --resume), and packs everything
into one tar:

  1. tokenizer: samples sized with a byte-level tokenizer (one token per byte)
     are the corpus of a byte-level BPE (tokenizers library) with the Llama-3
     pre-tokenizer and special tokens; starbench's C++ tokenizer must load the
     result and give the same ids (checked on the training text).
  2. data: `starbench tasks` with that tokenizer makes training samples at
     512-4096 tokens (training seeds) and evaluation samples (other seeds).
  3. model: a Llama-3 (GQA, llama3 RoPE scaling, head_dim 32, tied embeddings)
     trained on the answers (plus a small weight on the rest), short sequences
     first, bf16 autocast, AdamW with warmup and cosine decay, until the time
     budget; answers are swapped for fresh random values every draw (data.py).
  4. export: config.json (transformers' LlamaConfig), model.safetensors (bf16),
     generation_config.json, tokenizer.json, README.md, training.json.
  5. evaluation: the export re-loaded with transformers' LlamaForCausalLM,
     greedy answers on the evaluation samples exactly as `starbench run --task`
     prompts them, RULER scores per task and length.
  6. tokenizer_reference.json: text -> ids (tokenizers library) for a few
     hundred strings; starbench's CI compares its C++ tokenizer with them.

Usage (jobs/device/train_tiny_retrieval.sh runs it on the device machine):
  train.py --starbench BIN --words FILE --out DIR --tar FILE [--time-budget S] [--resume TAR|DIR] [--smoke]
"""
import argparse
import datetime
import json
import math
import os
import platform
import queue
import random
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import traceback

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tokenizer"))  # make_corpus.py

import data  # noqa: E402
import evaluate  # noqa: E402
import llama3_format  # noqa: E402
import ruler  # noqa: E402
from model import TinyConfig, TinyLlama, answer_weighted_loss  # noqa: E402

MODEL_DIR_NAME = "tiny-retrieval"
SIZE_LIMIT_BYTES = 12 * 1000 * 1000  # the committed directory: at most 12 MB in all
EVAL_SEED = 1        # evaluation samples (and docs/ACCURACY.md's study) use seeds below 1000
TRAIN_SEED_BASE = 100000  # training samples: TRAIN_SEED_BASE + 1000 * call + length index
TARGET_TASKS = ["niah_single_1", "niah_single_2", "niah_multikey_1", "vt"]


class Log:
    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8")
        self.start = time.time()

    def __call__(self, *parts):
        line = f"[{time.time() - self.start:7.1f}s] " + " ".join(str(p) for p in parts)
        print(line, flush=True)
        self.file.write(line + "\n")
        self.file.flush()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--starbench", required=True, help="starbench binary (for `tasks` and `tokenize`)")
    p.add_argument("--words", required=True, help="word list (tests/reference/data/words/words.txt)")
    p.add_argument("--out", required=True, help="work folder (created; its contents are replaced)")
    p.add_argument("--tar", required=True, help="the one tar written at the end")
    p.add_argument("--time-budget", type=float, default=450, help="seconds for this whole script (hard)")
    p.add_argument("--eval-reserve", type=float, default=None,
                   help="seconds kept for export + evaluation + tar (default: 70, smoke: 20)")
    p.add_argument("--resume", default="", help="a previous run's tar or its tiny-retrieval folder")
    p.add_argument("--smoke", action="store_true", help="tiny data and model, a few steps (< 60 s): API check")
    p.add_argument("--seed", type=int, default=20251)
    # model
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=640)
    p.add_argument("--vocab", type=int, default=3072, help="tokenizer size (BPE + 16 special tokens)")
    # training
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr-ratio", type=float, default=0.1)
    p.add_argument("--warmup-fraction", type=float, default=0.04)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--tokens-per-step", type=int, default=65536)
    p.add_argument("--context-loss-weight", type=float, default=0.1,
                   help="weight of the mean loss on non-answer tokens (answer tokens: 1)")
    p.add_argument("--lengths", default="512,1024,2048,4096", help="training prompt lengths (tokens)")
    p.add_argument("--train-tasks", default=",".join(data.TRAIN_TASK_WEIGHTS),
                   help="tasks to train on (drawn with data.TRAIN_TASK_WEIGHTS)")
    p.add_argument("--pool", default="2000,1200,600,400", help="generated samples per task at each length")
    p.add_argument("--no-augment", action="store_true", help="do not swap answers for fresh values")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (pays off only for long runs)")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: at the time budget)")
    # evaluation
    p.add_argument("--eval-lengths", default="1024,2048,4096")
    p.add_argument("--eval-samples", type=int, default=50)
    p.add_argument("--eval-tasks", default="niah_single_1,niah_single_2,niah_multikey_1,vt,niah_single_3,"
                   "niah_multikey_2,niah_multikey_3,niah_multivalue,niah_multiquery")
    p.add_argument("--byte-tokenizer", action="store_true",
                   help="skip BPE training and use one token per byte (local dry runs without `tokenizers`)")
    p.add_argument("--tokenizer-json", default="", help="use this tokenizer.json instead of training one")
    args = p.parse_args(argv)
    if args.smoke:
        args.hidden, args.layers, args.heads, args.kv_heads, args.ffn, args.vocab = 64, 2, 2, 1, 128, 1024
        args.lengths, args.pool = "512,1024", "6,4"
        args.tokens_per_step = 4096
        args.eval_lengths, args.eval_samples = "512", 3
        args.eval_tasks = "niah_single_1,vt"
        args.max_steps = args.max_steps or 30
    if args.byte_tokenizer:
        # One token per byte: a noise sentence is ~20 tokens, too coarse for 1% of 512;
        # the same prompts are about four times as many tokens anyway.
        scale = lambda text: ",".join(str(4 * int(x)) for x in text.split(","))  # noqa: E731
        args.lengths, args.eval_lengths = scale(args.lengths), scale(args.eval_lengths)
    if args.eval_reserve is None:
        args.eval_reserve = 20 if args.smoke else 70
    return args


# ------------------------------------------------------------------ tokenizers


class CppTokenizer:
    """starbench's C++ tokenizer, many texts per process: texts joined by a special
    token (the tokenizer encodes the text between special tokens independently)."""

    SEPARATOR = llama3_format.special_tokens()[-1]

    def __init__(self, starbench, tokenizer_json, work):
        self.starbench, self.path, self.work = starbench, tokenizer_json, work
        with open(tokenizer_json, encoding="utf-8") as f:
            doc = json.load(f)
        self.sep_id = next(t["id"] for t in doc["added_tokens"] if t["content"] == self.SEPARATOR)

    def encode_batch(self, texts):
        if not texts:
            return []
        path = os.path.join(self.work, "cpp_tokenize.txt")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(self.SEPARATOR.join(texts))
        out = subprocess.run([self.starbench, "tokenize", "--tokenizer", self.path, "--text-file", path],
                             check=True, capture_output=True, text=True).stdout.strip()
        ids = [int(x) for x in out.split(",")] if out else []
        result, current = [], []
        for i in ids:
            if i == self.sep_id:
                result.append(current)
                current = []
            else:
                current.append(i)
        result.append(current)
        if len(result) != len(texts):
            raise RuntimeError(f"C++ tokenizer: {len(result)} texts back for {len(texts)} (separator in a text?)")
        return result


class HFTokenizer:
    """The tokenizers library: the reference the C++ tokenizer is checked against."""

    def __init__(self, path):
        from tokenizers import Tokenizer
        self.tok = Tokenizer.from_file(path)
        fast = getattr(self.tok, "encode_batch_fast", None)
        self._batch = fast if fast is not None else self.tok.encode_batch

    def encode_batch(self, texts):
        if not texts:
            return []
        return [e.ids for e in self._batch(list(texts), add_special_tokens=False)]

    def encode(self, text):
        return self.tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids):
        return self.tok.decode(list(ids), skip_special_tokens=False)

    def token_id(self, text):
        return self.tok.token_to_id(text)

    def size(self):
        return self.tok.get_vocab_size(with_added_tokens=True)


class CppBackedTokenizer:
    """Local dry runs without the tokenizers library: encodes through starbench
    (one process per batch), decodes from the vocabulary. With no merges (the
    byte-level tokenizer) ids are the bytes themselves and encode in Python."""

    def __init__(self, cpp, path):
        self.cpp = cpp
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        self.special = {t["content"]: t["id"] for t in doc["added_tokens"]}
        alphabet = llama3_format.bytes_to_unicode()
        inverse = {c: b for b, c in alphabet.items()}
        self.id_bytes = {i: bytes(inverse[c] for c in t) for t, i in doc["model"]["vocab"].items()}
        for t, i in self.special.items():
            self.id_bytes[i] = t.encode()
        self.bytes_only = not doc["model"]["merges"] and all(self.id_bytes[b] == bytes([b]) for b in range(256))

    def encode_batch(self, texts):
        if not self.bytes_only:
            return self.cpp.encode_batch(texts)
        # Text with special-token spellings goes through starbench.
        special = [i for i, t in enumerate(texts) if "<|" in t]
        out = [list(t.encode("utf-8")) for t in texts]
        for i, ids in zip(special, self.cpp.encode_batch([texts[i] for i in special])):
            out[i] = ids
        return out

    def encode(self, text):
        return self.encode_batch([text])[0]

    def decode(self, ids):
        return b"".join(self.id_bytes[i] for i in ids).decode("utf-8", errors="replace")

    def token_id(self, text):
        return self.special.get(text)

    def size(self):
        return max(self.id_bytes) + 1


def train_bpe(corpus_texts, vocab_size, path, log):
    """Byte-level BPE with the Llama-3 pre-tokenizer; special tokens after the BPE
    vocabulary (as in Llama-3); ignore_merges as in Llama-3's tokenizer.json."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    specials = llama3_format.special_tokens()
    tok = Tokenizer(models.BPE())
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(llama3_format.SPLIT_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(specials), min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(corpus_texts, trainer=trainer, length=len(corpus_texts))
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    bos = tok.token_to_id(llama3_format.BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{llama3_format.BOS} $A", pair=f"{llama3_format.BOS} $A {llama3_format.BOS} $B",
        special_tokens=[(llama3_format.BOS, bos)])
    # Exactly the shapes src/tokenizer requires (and Llama-3 has): the Split regex
    # as written, ignore_merges on; re-read through tokenizers so it validates them.
    doc = json.loads(tok.to_str())
    doc["pre_tokenizer"] = llama3_format.pre_tokenizer_json()
    doc["model"]["ignore_merges"] = True
    doc["normalizer"] = None
    tok = Tokenizer.from_str(json.dumps(doc, ensure_ascii=False))
    tok.save(path)
    log(f"BPE: {tok.get_vocab_size(with_added_tokens=True)} tokens ({len(doc['model']['merges'])} merges, "
        f"{len(specials)} special) trained on {sum(len(t) for t in corpus_texts) / 1e6:.1f} MB of task text")


# ------------------------------------------------------------------ data


def run_tasks(starbench, tokenizer_json, words, tasks, lengths, samples, seed, out_path, threads):
    cmd = [starbench, "tasks", "--tokenizer", tokenizer_json, "--words", words, "--task", ",".join(tasks),
           "--seq-len", ",".join(str(n) for n in lengths), "--samples", str(samples), "--seed", str(seed),
           "--threads", str(threads), "-o", out_path]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), cmd


def generate(jobs, log):
    """jobs: [(label, Popen, cmd)]; waits for all, raises with the output of any failure."""
    failed = []
    for label, proc, cmd in jobs:
        out = proc.communicate()[0]
        log(f"  {label}: {out.strip().splitlines()[-1] if out.strip() else ''}")
        if proc.returncode != 0:
            failed.append(f"{' '.join(cmd)}\n{out}")
    if failed:
        raise RuntimeError("starbench tasks failed:\n" + "\n".join(failed))


def bootstrap_corpus(args, work, log):
    """Task text sized in bytes: what the BPE is trained on."""
    byte_json = os.path.join(work, "byte_tokenizer.json")
    llama3_format.write_byte_level_tokenizer(byte_json)
    path = os.path.join(work, "bpe_corpus.jsonl")
    samples = 8 if args.smoke else 60
    proc, cmd = run_tasks(args.starbench, byte_json, args.words, list(data.TRAIN_TASK_WEIGHTS), [2048, 8192], samples,
                          args.seed + 7, path, os.cpu_count() or 1)
    generate([("BPE corpus", proc, cmd)], log)
    texts = []
    for s in data.read_jsonl(path):
        texts += [s["context"], s["query"], data.completion_text(s)]
    return byte_json, texts


# ------------------------------------------------------------------ training


def curriculum(progress, lengths, resumed):
    """Weights of the training lengths at a point of the schedule: short first."""
    lengths = sorted(lengths)
    if resumed or len(lengths) == 1:
        return {n: (0.5 if n == lengths[-1] else 0.5 / (len(lengths) - 1)) for n in lengths} \
            if len(lengths) > 1 else {lengths[0]: 1.0}
    stages = len(lengths)
    # Stage k (of the first 80% of the time) centres on lengths[k]; the last 20%
    # mixes all lengths with the longest most.
    if progress >= 0.8:
        weights = {n: 1.0 for n in lengths}
        weights[lengths[-1]] = 3.0
        if stages > 1:
            weights[lengths[-2]] = 2.0
    else:
        k = min(stages - 1, int(progress / 0.8 * stages))
        weights = {n: 0.0 for n in lengths}
        weights[lengths[k]] = 0.7
        for j in range(k):
            weights[lengths[j]] = 0.3 / k
        if k == 0:
            weights[lengths[0]] = 1.0
    total = sum(weights.values())
    return {n: w / total for n, w in weights.items() if w > 0}


def lr_at(progress, args):
    if progress < args.warmup_fraction:
        return args.lr * max(progress / args.warmup_fraction, 0.02)
    t = (progress - args.warmup_fraction) / max(1e-9, 1 - args.warmup_fraction)
    t = min(1.0, t)
    return args.lr * (args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


class BatchMaker(threading.Thread):
    """Builds batches in the background (numpy), so the GPU does not wait on Python."""

    def __init__(self, pool, tokens, args, pad_id, progress_fn, resumed, seed):
        super().__init__(daemon=True)
        self.pool, self.tokens, self.args, self.pad_id = pool, tokens, args, pad_id
        self.progress_fn, self.resumed = progress_fn, resumed
        self.rng = random.Random(seed)
        self.queue = queue.Queue(maxsize=6)
        self.stop = False
        self.error = None

    def run(self):
        try:
            lengths = self.pool.lengths()
            while not self.stop:
                weights = curriculum(self.progress_fn(), lengths, self.resumed)
                length = self.rng.choices(list(weights), weights=list(weights.values()))[0]
                count = max(1, self.args.tokens_per_step // length)
                examples = self.pool.draw(length, count, self.rng)
                batch = data.make_batch(examples, self.rng, self.tokens, self.pad_id, swap=not self.args.no_augment)
                tensors = tuple(torch.from_numpy(a) for a in batch)
                if torch.cuda.is_available():
                    tensors = tuple(t.pin_memory() for t in tensors)
                while not self.stop:
                    try:
                        self.queue.put((length, tensors), timeout=0.5)
                        break
                    except queue.Full:
                        continue
        except Exception:  # reported by the training loop
            self.error = traceback.format_exc()

    def get(self):
        while True:
            if self.error:
                raise RuntimeError("batch maker failed:\n" + self.error)
            try:
                return self.queue.get(timeout=1.0)
            except queue.Empty:
                continue


def train(model, pool, tokens, args, device, log, state, train_deadline, export_fn):
    """Trains until train_deadline; returns statistics of the run."""
    resumed = state["calls"] > 0
    start = time.time()
    available = max(1.0, train_deadline - start)
    progress = lambda: min(1.0, (time.time() - start) / available)  # noqa: E731
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt_kwargs = dict(lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    if device.type == "cuda":
        opt_kwargs["fused"] = True
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], **opt_kwargs)
    step_model = torch.compile(model, dynamic=True) if args.compile else model
    pad_id = tokens.pad_id
    maker = BatchMaker(pool, tokens, args, pad_id, progress, resumed, args.seed + 1000 * state["calls"])
    maker.start()
    use_amp = device.type == "cuda"
    stats = dict(steps=0, tokens=0, last_losses=[])
    log_every = 5 if args.smoke else 15
    window = dict(t=time.time(), tokens=0, lengths={}, sums=np.zeros(4), synced=0)
    last_export = time.time()
    step = 0
    try:
        while time.time() < train_deadline and not (args.max_steps and step >= args.max_steps):
            p = progress()
            lr = lr_at(p, args) * (0.5 if resumed else 1.0)
            for group in optimizer.param_groups:
                group["lr"] = lr
            length, (inputs, targets, answer) = maker.get()
            inputs = inputs.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            answer = answer.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss, answer_loss, context_loss, n_answer, correct = answer_weighted_loss(
                    step_model, inputs, targets, answer, args.context_loss_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            step += 1
            window["tokens"] += int(inputs.numel())
            window["lengths"][length] = window["lengths"].get(length, 0) + 1
            if step % 10 == 0:  # .item() waits for the GPU: read the losses now and then only
                window["sums"] += np.array([float(loss), float(answer_loss), float(context_loss),
                                            float(correct) / max(1, int(n_answer))])
                window["synced"] += 1
            if time.time() - window["t"] >= log_every and window["synced"]:
                dt = time.time() - window["t"]
                mean = window["sums"] / window["synced"]
                log(f"step {state['steps'] + step:6d} p={p:.2f} lr={lr:.2e} loss={mean[0]:.3f} "
                    f"answer={mean[1]:.3f} (answer token acc {100 * mean[3]:.1f}%) context={mean[2]:.3f} "
                    f"{window['tokens'] / dt / 1e6:.2f}M tok/s lengths {dict(sorted(window['lengths'].items()))}")
                stats["last_losses"].append(dict(step=state["steps"] + step, loss=float(mean[0]),
                                                 answer_loss=float(mean[1]), answer_token_accuracy=float(mean[3])))
                stats["tokens"] += window["tokens"]
                window = dict(t=time.time(), tokens=0, lengths={}, sums=np.zeros(4), synced=0)
            if time.time() - last_export > 90:
                export_fn(step)  # a killed call still leaves a model behind
                last_export = time.time()
    finally:
        maker.stop = True
    stats["tokens"] += window["tokens"]
    stats["steps"] = step
    stats["seconds"] = time.time() - start
    return stats


# ------------------------------------------------------------------ export


def export(model, cfg, tokenizer_json, model_dir, info):
    """config.json + generation_config.json (via transformers when present),
    model.safetensors (bf16), tokenizer.json, training.json."""
    os.makedirs(model_dir, exist_ok=True)
    tensors = model.hf_state_dict(torch.bfloat16)
    try:
        from safetensors.torch import save_file
        save_file(tensors, os.path.join(model_dir, "model.safetensors"), metadata={"format": "pt"})
    except ImportError:  # local dry runs: write the format by hand (header + raw little-endian data)
        write_safetensors(tensors, os.path.join(model_dir, "model.safetensors"))
    write_configs(cfg, model_dir)
    shutil.copyfile(tokenizer_json, os.path.join(model_dir, "tokenizer.json"))
    with open(os.path.join(model_dir, "training.json"), "w") as f:
        json.dump(info, f, indent=1, sort_keys=True)


def write_safetensors(tensors, path):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        t = tensors[name]
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        dtype = {torch.bfloat16: "BF16", torch.float32: "F32"}[t.dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def write_configs(cfg, model_dir):
    try:
        from transformers import GenerationConfig, LlamaConfig
        LlamaConfig(**cfg.hf_config_kwargs()).save_pretrained(model_dir)
        GenerationConfig(bos_token_id=cfg.bos_token_id, eos_token_id=list(cfg.eos_token_ids),
                         do_sample=False).save_pretrained(model_dir)
        path = os.path.join(model_dir, "config.json")
        with open(path) as f:
            conf = json.load(f)
        conf.setdefault("architectures", ["LlamaForCausalLM"])  # what LlamaForCausalLM.save_pretrained writes
        conf["dtype"] = "bfloat16"  # the weights' dtype
        with open(path, "w") as f:
            json.dump(conf, f, indent=2, sort_keys=True)
        return
    except ImportError:
        pass
    # local dry runs without transformers: the same keys by hand
    conf = cfg.hf_config_kwargs()
    conf.update(architectures=["LlamaForCausalLM"], model_type="llama", dtype="bfloat16")
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(conf, f, indent=2, sort_keys=True)
    with open(os.path.join(model_dir, "generation_config.json"), "w") as f:
        json.dump(dict(bos_token_id=cfg.bos_token_id, eos_token_id=list(cfg.eos_token_ids), do_sample=False), f,
                  indent=2)


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))


def load_resume(path, work):
    """(model_dir, training info) of a previous run's tar or folder."""
    if os.path.isfile(path):
        target = os.path.join(work, "resume")
        os.makedirs(target, exist_ok=True)
        with tarfile.open(path) as tar:
            tar.extractall(target)
        path = os.path.join(target, MODEL_DIR_NAME)
    elif os.path.isdir(os.path.join(path, MODEL_DIR_NAME)):
        path = os.path.join(path, MODEL_DIR_NAME)
    with open(os.path.join(path, "training.json")) as f:
        info = json.load(f)
    return path, info


def read_safetensors(path):
    """name -> float32 tensor (BF16/F32), without the safetensors package (local dry runs)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        buf = raw[8 + n + a:8 + n + b]
        if meta["dtype"] == "BF16":
            arr = (np.frombuffer(buf, np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif meta["dtype"] == "F32":
            arr = np.frombuffer(buf, np.float32)
        else:
            raise ValueError(f"{path}: {name} has dtype {meta['dtype']}")
        out[name] = torch.from_numpy(arr.reshape(meta["shape"]).copy())
    return out


def load_weights(model, model_dir):
    path = os.path.join(model_dir, "model.safetensors")
    try:
        from safetensors.torch import load_file
        tensors = load_file(path)
    except ImportError:
        tensors = read_safetensors(path)
    missing = model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
    if missing.missing_keys or missing.unexpected_keys:
        raise RuntimeError(f"resume: weights do not match the model: {missing}")


# ------------------------------------------------------------------ evaluation


def evaluate_export(model_dir, own_model, samples, tok, cfg, device, log, deadline):
    """RULER accuracy of the exported checkpoint through transformers (own model when
    transformers is absent: local dry runs), plus a check that both agree."""
    eos_ids = list(cfg.eos_token_ids)
    result = {}
    # float32 means float32 here (as starbench's cpu backend), not TF32 matmuls.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        import transformers
        from transformers import DynamicCache, LlamaForCausalLM
        hf = LlamaForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa").float().to(device).eval()

        def new_cache():
            try:
                return DynamicCache()
            except TypeError:
                return DynamicCache(config=hf.config)
        stepper = evaluate.HFStepper(hf, new_cache)
        result["evaluated_with"] = f"transformers {transformers.__version__} LlamaForCausalLM (float32)"
        # The training model, re-loaded from the bf16 export, must compute the same.
        reference = TinyLlama(cfg).to(device).eval()
        load_weights(reference, model_dir)
        probe = ruler.prompt_ids(samples[0], tok.encode, cfg.bos_token_id)
        with torch.no_grad():
            ids = torch.tensor([probe], device=device)
            a = hf(input_ids=ids).logits[0].float()
            b = reference.logits(reference.hidden(ids))[0].float()
        diff = float((a - b).abs().max())
        agree = float((a.argmax(-1) == b.argmax(-1)).float().mean())
        result["hf_vs_training_model"] = dict(max_abs_logit_diff=diff, argmax_agreement=agree, tokens=len(probe))
        log(f"transformers vs training model on a {len(probe)}-token prompt: max |logit diff| {diff:.2e}, "
            f"argmax agreement {100 * agree:.2f}%")
    except ImportError:
        stepper = evaluate.OwnStepper(own_model.float().eval())
        result["evaluated_with"] = "training model (transformers not installed: local dry run)"
    log(f"evaluating with {result['evaluated_with']}")
    records, table = evaluate.evaluate(stepper, samples, tok.encode, tok.decode, cfg.bos_token_id, eos_ids,
                                       tok.pad_id, device, log=log, deadline=deadline)
    # Rows of a batch are left-padded: the same samples run alone must answer the same.
    checked, equal = evaluate.padding_check(stepper, records, samples, tok.encode, tok.decode, cfg.bos_token_id,
                                            eos_ids, tok.pad_id, device)
    result["padding_check"] = dict(samples=checked, same_answer=equal)
    log(f"padding check: {equal} of {checked} samples answer the same alone as in their padded batch")
    result["records"] = records
    result["accuracy"] = [dict(task=t, target_tokens=n, accuracy=a) for (t, n), a in sorted(table.items())]
    log("global (full attention) greedy accuracy, % (RULER score):\n" + evaluate.format_table(table))
    return result, table


def starbench_check(starbench, model_dir, eval_samples, records, tok, cfg, work, log, count=3, generate=16):
    """starbench itself (C++, cpu backend) loads the export and gives transformers'
    greedy answers on a few evaluation prompts: (checked, equal)."""
    import h5py
    by_key = {(r["task"], r["target_tokens"], r["index"]): r["prediction"] for r in records}
    shortest = min((s["target_tokens"] for s in eval_samples), default=0)
    chosen = [s for s in eval_samples if s["target_tokens"] == shortest
              and (s["task"], s["target_tokens"], s["index"]) in by_key][:count]
    checked = equal = 0
    for k, s in enumerate(chosen):
        context = [cfg.bos_token_id] + tok.encode(s["context"])
        prompt = context + tok.encode(s["query"])
        out = os.path.join(work, f"starbench_forward_{k}.h5")
        cmd = [starbench, "forward", "--backend", "cpu", "--model", model_dir, "--tokens", ",".join(map(str, prompt)),
               "--context-len", str(len(context)), "--method", "global", "--generate", str(generate), "-o", out]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                             env=dict(os.environ, OMP_NUM_THREADS=str(min(8, os.cpu_count() or 1))))
        if run.returncode != 0:
            raise RuntimeError(f"starbench forward on the export failed:\n{run.stdout}{run.stderr}")
        with h5py.File(out, "r") as f:
            generated = [int(t) for t in f["generated"][()]]
        answer = []
        for t in generated:
            if t in cfg.eos_token_ids:
                break
            answer.append(t)
        text = tok.decode(answer)
        reference = by_key[(s["task"], s["target_tokens"], s["index"])]
        # transformers had RULER's budget; starbench `generate` tokens: compare what both produced.
        same = text == reference or (len(answer) == generate and reference.startswith(text))
        checked += 1
        equal += same
        log(f"  starbench forward, {s['task']} {s['target_tokens']} #{s['index']}: {text!r} "
            f"({'same as' if same else 'DIFFERS from'} the evaluation: {reference!r})")
    return checked, equal


def tokenizer_reference(tok, eval_samples, cpp, log):
    """Text -> ids with the tokenizers library for starbench's CI, and the C++ ids on the same texts."""
    import make_corpus
    strings = make_corpus.corpus()
    for s in eval_samples[::max(1, len(eval_samples) // 60)][:60]:
        strings += [s["context"][:1200], s["context"][-600:], s["query"], data.completion_text(s)]
    strings = [x for x in strings if CppTokenizer.SEPARATOR not in x]
    ids = tok.encode_batch(strings)
    cpp_ids = cpp.encode_batch(strings)
    mismatches = [i for i, (a, b) in enumerate(zip(ids, cpp_ids)) if a != b]
    log(f"tokenizer reference: {len(strings)} strings; C++ tokenizer differs on {len(mismatches)}"
        + (f" (first: {strings[mismatches[0]]!r})" if mismatches else ""))
    return dict(cases=[dict(text=t, ids=i) for t, i in zip(strings, ids)]), mismatches


# ------------------------------------------------------------------ main


def main(argv=None):
    args = parse_args(argv)
    t0 = time.time()
    deadline = t0 + args.time_budget
    work = os.path.abspath(args.out)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    log = Log(os.path.join(work, "train.log"))
    model_dir = os.path.join(work, MODEL_DIR_NAME)
    status = {"ok": False}
    try:
        run(args, work, model_dir, log, deadline, status)
        status["ok"] = True
    except Exception:
        log("FAILED:\n" + traceback.format_exc())
        status["error"] = traceback.format_exc().strip().splitlines()[-1]
    finally:
        with open(os.path.join(work, "status.json"), "w") as f:
            json.dump(status, f, indent=1)
        pack(work, args.tar, log)
        log(f"total {time.time() - t0:.0f} s (budget {args.time_budget:.0f} s)")
        print_summary(status, log)
    return 0 if status["ok"] else 1


def pack(work, tar_path, log):
    with tarfile.open(tar_path, "w") as tar:
        for name in (MODEL_DIR_NAME, "train.log", "status.json", "eval_records.json"):
            path = os.path.join(work, name)
            if os.path.exists(path):
                tar.add(path, arcname=name)
    log(f"packed {tar_path} ({os.path.getsize(tar_path) / 1e6:.2f} MB)")


def print_summary(status, log):
    log("SUMMARY: " + json.dumps({k: v for k, v in status.items() if k != "table"}))
    if "table" in status:
        log("SUMMARY accuracy (%):\n" + status["table"])


def run(args, work, model_dir, log, deadline, status):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    versions = dict(python=platform.python_version(), torch=torch.__version__, numpy=np.__version__,
                    device=torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "cpu")
    for module in ("transformers", "tokenizers", "safetensors"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = None
    log("versions:", json.dumps(versions))
    log("args:", json.dumps(vars(args)))
    status["versions"] = versions
    commit = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"

    # 1. tokenizer
    prior = None
    tokenizer_json = os.path.join(work, "tokenizer.json")
    if args.resume:
        resume_dir, prior = load_resume(args.resume, work)
        shutil.copyfile(os.path.join(resume_dir, "tokenizer.json"), tokenizer_json)
        log(f"resuming from {args.resume}: {prior['steps']} steps over {prior['calls']} call(s)")
    elif args.tokenizer_json:
        shutil.copyfile(args.tokenizer_json, tokenizer_json)
        log(f"tokenizer: {args.tokenizer_json}")
    elif args.byte_tokenizer:
        llama3_format.write_byte_level_tokenizer(tokenizer_json)
        log("byte-level tokenizer (no BPE): local dry run")
    else:
        _, corpus = bootstrap_corpus(args, work, log)
        train_bpe(corpus, args.vocab, tokenizer_json, log)
    cpp = CppTokenizer(args.starbench, tokenizer_json, work)
    try:
        tok = HFTokenizer(tokenizer_json)
    except ImportError:
        if not (args.byte_tokenizer or args.tokenizer_json):
            raise
        tok = CppBackedTokenizer(cpp, tokenizer_json)
        log("tokenizers library not installed: encoding through starbench (local dry run)")
    bos, eos, eot = (tok.token_id(t) for t in (llama3_format.BOS, llama3_format.EOS, llama3_format.EOT))
    tok.pad_id = eos

    # 2. data (training seeds, then evaluation seeds), in parallel
    calls = prior["calls"] if prior else 0
    lengths = [int(x) for x in args.lengths.split(",")]
    pool_sizes = [int(x) for x in args.pool.split(",")]
    eval_lengths = [int(x) for x in args.eval_lengths.split(",")]
    eval_tasks = args.eval_tasks.split(",")
    train_tasks = args.train_tasks.split(",")
    unknown = [t for t in train_tasks if t not in data.TRAIN_TASK_WEIGHTS]
    if unknown:
        raise ValueError(f"--train-tasks: {unknown} are not among {list(data.TRAIN_TASK_WEIGHTS)}")
    threads = os.cpu_count() or 1
    jobs, train_files = [], []
    for k, (length, count) in enumerate(zip(lengths, pool_sizes)):
        path = os.path.join(work, f"train_{length}.jsonl")
        seed = TRAIN_SEED_BASE + 1000 * calls + k
        proc, cmd = run_tasks(args.starbench, tokenizer_json, args.words, train_tasks, [length], count, seed, path,
                              threads)
        jobs.append((f"train {length} (seed {seed})", proc, cmd))
        train_files.append(path)
    eval_path = os.path.join(work, "eval.jsonl")
    proc, cmd = run_tasks(args.starbench, tokenizer_json, args.words, eval_tasks, eval_lengths, args.eval_samples,
                          EVAL_SEED, eval_path, threads)
    jobs.append((f"eval (seed {EVAL_SEED})", proc, cmd))
    t = time.time()
    generate(jobs, log)
    log(f"data generated in {time.time() - t:.1f} s")
    samples = [s for path in train_files for s in data.read_jsonl(path)]
    eval_samples = data.read_jsonl(eval_path)

    # The C++ tokenizer must agree with the tokenizers library on this text.
    probe = [x for s in samples[::max(1, len(samples) // 40)] for x in (s["context"], s["query"])]
    differ = [(t, a, b) for t, a, b in zip(probe, tok.encode_batch(probe), cpp.encode_batch(probe)) if a != b]
    log(f"C++ vs Python tokenizer on {len(probe)} training texts: {len(differ)} differ")
    if differ:
        text, a, b = differ[0]
        at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        raise RuntimeError(f"the C++ tokenizer disagrees with the tokenizers library on training text, first at "
                           f"token {at} of {text[:200]!r}...: python {a[max(0, at - 3):at + 5]}, "
                           f"C++ {b[max(0, at - 3):at + 5]}")

    t = time.time()
    tokens = data.Tokens(tok.encode_batch, random.Random(args.seed))
    tokens.pad_id = eos
    examples = data.make_examples(samples, tokens, bos, eos, augment=not args.no_augment)
    problems = data.check_segmentation(samples[::max(1, len(samples) // 60)], tokens, bos, eos, tok.decode)
    log(f"{len(examples)} training examples tokenized in {time.time() - t:.1f} s; segmentation check: "
        f"{len(problems)} problems" + (f" (first: {problems[0]})" if problems else ""))
    if problems and not args.no_augment:
        raise RuntimeError("answer swapping would change the tokenization: " + "; ".join(problems[:3]))
    pool = data.Pool(examples, {t: data.TRAIN_TASK_WEIGHTS[t] for t in train_tasks})
    mean_len = np.mean([sum(len(p[1]) for p in ex.pieces if p[0] == "ids") for ex in examples])
    log(f"pool: {len(examples)} samples, mean {mean_len:.0f} tokens, lengths {pool.lengths()}")

    # 3. model
    vocab = tok.size()  # exactly the tokenizer's ids: every id the model can emit decodes
    cfg = TinyConfig(vocab_size=vocab, hidden_size=args.hidden, intermediate_size=args.ffn, num_layers=args.layers,
                     num_heads=args.heads, num_kv_heads=args.kv_heads, head_dim=32, bos_token_id=bos,
                     eos_token_ids=tuple(sorted({eos, eot})))
    if prior:
        cfg = TinyConfig.from_dict(prior["config"])
    # bf16 weights + tokenizer.json + ~0.6 MB for the reference ids, README and training.json
    size = cfg.parameter_count() * 2 + os.path.getsize(tokenizer_json) + 600_000
    log(f"model: {cfg.parameter_count() / 1e6:.2f}M parameters, about {size / 1e6:.2f} MB committed "
        f"(limit {SIZE_LIMIT_BYTES / 1e6:.0f} MB); {json.dumps(cfg.to_dict())}")
    if size > SIZE_LIMIT_BYTES:
        raise RuntimeError(f"the model would take {size / 1e6:.2f} MB, over the limit")
    model = TinyLlama(cfg)
    if prior:
        load_weights(model, resume_dir)
    else:
        model.init_weights(args.seed)
    model.to(device)

    state = dict(steps=prior["steps"] if prior else 0, calls=calls,
                 train_seconds=prior["train_seconds"] if prior else 0.0,
                 tokens=prior["tokens"] if prior else 0, history=prior["history"] if prior else [])
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")

    def info(extra_steps, stats=None):
        return dict(config=cfg.to_dict(), steps=state["steps"] + extra_steps, calls=state["calls"] + 1,
                    train_seconds=state["train_seconds"] + (stats["seconds"] if stats else 0.0),
                    tokens=state["tokens"] + (stats["tokens"] if stats else 0),
                    history=state["history"] + ([dict(call=state["calls"], date=date, commit=commit,
                                                      steps=stats["steps"], seconds=stats["seconds"],
                                                      losses=stats["last_losses"][-20:])] if stats else []),
                    versions=versions, args=vars(args), eval_seed=EVAL_SEED,
                    train_seeds=[TRAIN_SEED_BASE + 1000 * c + k for c in range(state["calls"] + 1)
                                 for k in range(len(lengths))])

    # 4. train until the budget (export + evaluation keep their reserve)
    train_deadline = deadline - args.eval_reserve
    log(f"training for {train_deadline - time.time():.0f} s")
    stats = train(model, pool, tokens, args, device, log, state, train_deadline,
                  lambda steps: export(model, cfg, tokenizer_json, model_dir, info(steps)))
    log(f"trained {stats['steps']} steps, {stats['tokens'] / 1e6:.0f}M tokens in {stats['seconds']:.0f} s")

    # 5. export
    training = info(stats["steps"], stats)
    export(model, cfg, tokenizer_json, model_dir, training)
    size = dir_bytes(model_dir)
    log(f"exported {model_dir}: {size / 1e6:.2f} MB")

    # 6. evaluation through transformers, on seeds not used in training
    eval_deadline = deadline - 10
    result, table = evaluate_export(model_dir, model, eval_samples, tok, cfg, device, log, eval_deadline)
    with open(os.path.join(work, "eval_records.json"), "w") as f:
        json.dump(result["records"], f)
    training["evaluation"] = {k: v for k, v in result.items() if k != "records"}
    final_loss = stats["last_losses"][-1] if stats["last_losses"] else {}

    # starbench loads the export unchanged and answers as transformers does.
    checked, equal = starbench_check(args.starbench, model_dir, eval_samples, result["records"], tok, cfg, work, log)
    training["evaluation"]["starbench_check"] = dict(samples=checked, same_answer=equal)

    # 7. tokenizer reference ids for starbench's CI
    reference, mismatches = tokenizer_reference(tok, eval_samples, cpp, log)
    reference.update(tokenizer="tokenizer.json", made_with=f"tokenizers {versions['tokenizers']}",
                     encode="Tokenizer.encode(text, add_special_tokens=False): special-token text is parsed, "
                            "no BOS added (starbench: encode(text, parse_special=true))")
    with open(os.path.join(model_dir, "tokenizer_reference.json"), "w", encoding="utf-8") as f:
        json.dump(reference, f, ensure_ascii=False)
    training["cpp_tokenizer_mismatches"] = len(mismatches)
    with open(os.path.join(model_dir, "training.json"), "w") as f:
        json.dump(training, f, indent=1, sort_keys=True)
    gpu = versions["device"]
    command = os.environ.get("TINY_RETRIEVAL_COMMAND") or " ".join(["train.py"] + sys.argv[1:])
    line = (f"Made {date} on {gpu} at commit {commit} by `{command}`"
            f": seed {args.seed}, {training['steps']} steps over {training['calls']} call(s) "
            f"({training['train_seconds']:.0f} s of training, {training['tokens'] / 1e6:.0f}M tokens), final loss "
            f"{final_loss.get('loss', float('nan')):.4f} (answer {final_loss.get('answer_loss', float('nan')):.4f}); "
            f"evaluation seed {EVAL_SEED}, training seeds {training['train_seeds']}.")
    with open(os.path.join(model_dir, "README.md"), "w") as f:
        f.write("# tiny-retrieval\n\nA Llama-3 trained by tests/reference/tiny_retrieval/train.py on starbench's own "
                "tasks (see tests/reference/README.md).\n\n" + line + "\n\nGlobal greedy accuracy (RULER score, %) "
                "on the evaluation seed:\n\n```\n" + evaluate.format_table(table) + "\n```\n")
    size = dir_bytes(model_dir)
    log(f"{MODEL_DIR_NAME}: {size / 1e6:.2f} MB in all (limit {SIZE_LIMIT_BYTES / 1e6:.0f} MB)")
    problems = []
    if not result["records"]:
        problems.append("no evaluation: the time budget ran out before the first group")
    check = result.get("hf_vs_training_model")
    if check and (check["max_abs_logit_diff"] > 1e-2 or check["argmax_agreement"] < 0.99):
        problems.append(f"transformers and the training model disagree: {check}")
    if result["padding_check"]["same_answer"] != result["padding_check"]["samples"] or (
            result["records"] and not result["padding_check"]["samples"]):
        problems.append(f"padded batches answer differently: {result['padding_check']}")
    if mismatches:
        problems.append(f"the C++ tokenizer differs from the tokenizers library on {len(mismatches)} strings")
    if equal != checked or (result["records"] and not checked):
        problems.append(f"starbench's greedy answers differ from transformers' on {checked - equal} of {checked}")
    status.update(steps=training["steps"], train_seconds=round(training["train_seconds"]), size_mb=round(size / 1e6, 2),
                  cpp_tokenizer_mismatches=len(mismatches), table=evaluate.format_table(table),
                  targets_min=min((table[(t, n)] for t in TARGET_TASKS for n in eval_lengths if (t, n) in table),
                                  default=None),
                  hf_vs_training_model=result.get("hf_vs_training_model"),
                  starbench_check=training["evaluation"]["starbench_check"])
    if size > SIZE_LIMIT_BYTES:
        problems.append(f"{MODEL_DIR_NAME} is {size / 1e6:.2f} MB, over the {SIZE_LIMIT_BYTES / 1e6:.0f} MB limit")
    if problems:
        raise RuntimeError("; ".join(problems))


if __name__ == "__main__":
    sys.exit(main())
