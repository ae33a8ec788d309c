"""Checks of the training pipeline's pieces that need no GPU, no transformers and
no tokenizers library: the data (numpy; with the byte-level tokenizer and real
`starbench tasks` samples when STARBENCH_BIN is set), RULER scoring, and (with
torch installed) the training model against the float64 Hugging Face reference
logits in tests/reference/data. Run: /usr/bin/python3 -m pytest tests/reference/tiny_retrieval
"""
import os
import random
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)

import data  # noqa: E402
import llama3_format  # noqa: E402
import ruler  # noqa: E402

WORDS = os.path.join(REPO, "tests", "reference", "data", "words", "words.txt")


class Bytes:
    """The byte-level tokenizer in Python: id = byte (task text has no special tokens)."""

    def encode_batch(self, texts):
        return [list(t.encode("utf-8")) for t in texts]

    def decode(self, ids):
        return bytes(ids).decode("utf-8")


BOS, EOS = 256, 257


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    starbench = os.environ.get("STARBENCH_BIN")
    if not starbench:
        pytest.skip("STARBENCH_BIN not set (the starbench binary makes the samples)")
    work = tmp_path_factory.mktemp("tasks")
    tok = str(work / "bytes.json")
    llama3_format.write_byte_level_tokenizer(tok)
    out = str(work / "s.jsonl")
    subprocess.run([starbench, "tasks", "--tokenizer", tok, "--words", WORDS, "--task",
                    ",".join(data.TRAIN_TASK_WEIGHTS), "--seq-len", "2048", "--samples", "3", "--seed", "5", "-o", out],
                   check=True, capture_output=True)
    return data.read_jsonl(out)


def test_completions():
    s = {"task": "niah_multivalue", "context": "x is: 222. y is: 111.", "answers": ["111", "222"]}
    assert data.completion_text(s) == " 222, 111."  # in the order the context has them
    assert data.completion_text({"task": "vt", "context": "", "answers": ["ABCDE", "FGHIJ"]}) == " ABCDE FGHIJ"
    assert data.completion_text({"task": "niah_single_1", "context": "", "answers": ["1234567"]}) == " 1234567."


def test_split_text_marks_whole_strings_with_their_space():
    pieces = data.split_text("is: 1234567. VAR ABCDE = 12345 x1234567", ["1234567", "ABCDE", "12345"])
    assert pieces == [("text", "is:"), ("slot_space", "1234567"), ("text", ". VAR"), ("slot_space", "ABCDE"),
                      ("text", " ="), ("slot_space", "12345"), ("text", " x1234567")]


def test_fresh_values_keep_kind_and_length_and_are_distinct():
    rng = random.Random(3)
    tokens = data.Tokens(Bytes().encode_batch, rng)
    values = data.fresh_values(["1234567", "7654321", "ABCDE", "5f0b8a52-1c2e-4d3f-9a4b-0123456789ab"], rng, tokens)
    texts = [v[0] for v in values.values()]
    assert len(set(texts)) == 4
    assert len(texts[0]) == 7 and texts[0].isdigit() and texts[0][0] != "0"
    assert data.slot_kind(texts[2]) == "vt_name" and data.slot_kind(texts[3]) == "uuid"
    for text, plain, spaced in values.values():
        assert bytes(plain).decode() == text and bytes(spaced).decode() == " " + text


def test_segmentation_and_swaps_on_real_samples(samples):
    tokens = data.Tokens(Bytes().encode_batch, random.Random(0))
    assert data.check_segmentation(samples, tokens, BOS, EOS, Bytes().decode, count=len(samples)) == []
    # Every swappable answer is swapped everywhere, in the context and in the completion.
    rng = random.Random(1)
    for s, ex in zip(samples, data.make_examples(samples, tokens, BOS, EOS)):
        ids, answer = data.build(ex, rng, tokens)
        text = bytes(ids[1:-1].tolist()).decode()
        for original in data.swappable_strings(s):
            assert original not in text, (s["task"], original)
        completion = bytes(ids[answer][:-1].tolist()).decode()
        assert completion.startswith(" ") and ids[-1] == EOS


def test_batch_targets_are_the_completion(samples):
    tokens = data.Tokens(Bytes().encode_batch, random.Random(0))
    examples = data.make_examples(samples[:4], tokens, BOS, EOS)
    inputs, targets, answer = data.make_batch(examples, random.Random(2), tokens, pad_id=EOS, swap=False)
    assert inputs.shape == targets.shape == answer.shape and inputs.shape[1] % 64 == 0
    for row, s in enumerate(samples[:4]):
        want = list(data.completion_text(s).encode()) + [EOS]
        assert targets[row][answer[row]].tolist() == want
        n = int((targets[row] >= 0).sum())
        assert inputs[row, 0] == BOS and targets[row, n - 1] == EOS and (targets[row, n:] == -100).all()
        prompt = [BOS] + list(s["context"].encode()) + list(s["query"].encode())
        assert inputs[row, :len(prompt)].tolist() == prompt


def test_pool_draws_by_task_weight():
    ex = [data.Example(t, 1024, [], []) for t in ("vt", "niah_single_1") for _ in range(3)]
    pool = data.Pool(ex, {"vt": 3.0, "niah_single_1": 1.0})
    drawn = pool.draw(1024, 4000, random.Random(0))
    share = sum(e.task == "vt" for e in drawn) / len(drawn)
    assert 0.72 < share < 0.78
    with pytest.raises(ValueError):
        pool.draw(2048, 1, random.Random(0))


def test_ruler_scoring_matches_starbench():
    assert ruler.sample_score("all", " 1234567, 7654321.", ["1234567", "7654321"]) == 1.0
    assert ruler.sample_score("all", "1234567", ["1234567", "7654321"]) == 0.5
    assert ruler.sample_score("part", "the answer is PARIS\x01", ["paris", "london"]) == 1.0
    assert ruler.postprocess("\x02 abc \x03") == "abc"
    assert ruler.answer_budget("niah_multikey_2") == 128 and ruler.answer_budget("vt") == 30


def test_training_model_matches_transformers_float64_reference():
    torch = pytest.importorskip("torch")
    from model import TinyConfig, TinyLlama
    from train import read_safetensors
    ref_dir = os.path.join(REPO, "tests", "reference", "data")
    weights = {}
    for name in os.listdir(os.path.join(ref_dir, "tiny-llama3")):
        if name.endswith(".safetensors"):
            weights.update(read_safetensors(os.path.join(ref_dir, "tiny-llama3", name)))
    reference = read_safetensors(os.path.join(ref_dir, "global_reference.safetensors"))
    cfg = TinyConfig(vocab_size=512, hidden_size=128, intermediate_size=384, num_layers=2, num_heads=4,
                     num_kv_heads=2, head_dim=32, rope_original_max_positions=64, tie_word_embeddings=False)
    model = TinyLlama(cfg).double()
    model.load_state_dict({k: v.double() for k, v in weights.items()})
    tokens = reference["tokens"].long()
    logits = reference["logits"].double()
    with torch.no_grad():
        full = model.logits(model.hidden(tokens[None]))[0]
        # KV cache: context 80, then the query; and a left-padded row.
        caches = model.new_caches()
        model.infer(tokens[None, :80], torch.arange(80)[None], torch.ones(1, 80, dtype=torch.long), caches)
        query = model.infer(tokens[None, 80:], torch.arange(80, 96)[None], torch.ones(1, 96, dtype=torch.long),
                            caches)[0]
        mask = torch.cat([torch.zeros(1, 7, dtype=torch.long), torch.ones(1, 96, dtype=torch.long)], 1)
        ids = torch.cat([torch.zeros(1, 7, dtype=torch.long), tokens[None]], 1)
        padded = model.infer(ids, (mask.cumsum(-1) - 1).clamp(min=0), mask, model.new_caches())[0, 7:]
    # HF's float32 RoPE frequencies vs the reference's float64 ones: ~1e-5 on logits of scale 2.
    assert float((full - logits).abs().max()) < 1e-4
    assert float((query - logits[80:]).abs().max()) < 1e-4
    assert float((padded - logits).abs().max()) < 1e-4
    assert full.argmax(-1).tolist() == logits.argmax(-1).tolist()


def test_loss_counts_answers_only_when_asked():
    torch = pytest.importorskip("torch")
    from model import TinyConfig, TinyLlama, answer_weighted_loss
    cfg = TinyConfig(vocab_size=300, hidden_size=64, intermediate_size=96, num_layers=1, num_heads=2,
                     num_kv_heads=1)
    model = TinyLlama(cfg)
    model.init_weights(0)
    inputs = torch.randint(0, 300, (2, 32))
    targets = torch.randint(0, 300, (2, 32))
    targets[1, 20:] = -100
    answer = torch.zeros(2, 32, dtype=torch.bool)
    answer[:, 10:12] = True
    loss, answer_loss, context_loss, n, correct = answer_weighted_loss(model, inputs, targets, answer, 0.0)
    assert int(n) == 4 and float(context_loss) == 0 and torch.isclose(loss, answer_loss)
    loss2, answer_loss2, context_loss2, _, _ = answer_weighted_loss(model, inputs, targets, answer, 0.5)
    assert torch.isclose(answer_loss2, answer_loss) and float(context_loss2) > 0
    assert torch.isclose(loss2, answer_loss2 + 0.5 * context_loss2)


def test_schedule_and_curriculum():
    pytest.importorskip("torch")
    import train
    args = train.parse_args(["--starbench", "x", "--words", "w", "--out", "o", "--tar", "t"])
    lrs = [train.lr_at(p / 100, args) for p in range(101)]
    assert max(lrs) == pytest.approx(args.lr, rel=0.01) and lrs[-1] == pytest.approx(args.lr * args.min_lr_ratio)
    peak = lrs.index(max(lrs))
    assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1:]))
    lengths = [512, 1024, 2048, 4096]
    for p in (0.0, 0.3, 0.5, 0.79, 0.9):
        w = train.curriculum(p, lengths, resumed=False)
        assert abs(sum(w.values()) - 1) < 1e-9
    assert train.curriculum(0.0, lengths, False) == {512: 1.0}
    assert max(train.curriculum(0.9, lengths, False), key=train.curriculum(0.9, lengths, False).get) == 4096
    assert set(train.curriculum(0.0, lengths, True)) == set(lengths)
