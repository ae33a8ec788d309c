#!/usr/bin/env python3
"""BABILong's released samples -> the JSONL that `starbench run --task-file` reads.

BABILong (booydar/babilong; the data set RMT-team/babilong on the Hugging Face hub,
one split per task qa1..qa5 and one configuration per length, 0k..128k) stores each
sample as {"input": <long context>, "question": ..., "target": ...}. Export a split
on a machine that can reach the hub, e.g.

    python3 -c "import datasets; datasets.load_dataset('RMT-team/babilong', '32k')['qa1'].to_json('qa1_32k.jsonl')"

then convert it here and run it with BABILong's answer match:

    python3 jobs/data/babilong_to_jsonl.py qa1_32k.jsonl -o babilong_qa1_32k.jsonl
    starbench run --task-file babilong_qa1_32k.jsonl --task-metric babilong:qa1 ...

Input: a JSON list or JSON lines of such records. Output: Star Attention's format
(input_context, input_query, output, index), the context framed in <context> tags
and the question after it, as BABILong's prompts do (its instruction and few-shot
examples are left out unless --instruction is given).
"""
import argparse
import json
import sys

FIELDS = ("input", "question", "target")


def read_records(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise SystemExit(f"{path}: not a JSON list ({error})")
        return [(number + 1, record) for number, record in enumerate(records)]
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError as error:
            raise SystemExit(f"{path}:{number}: not a JSON object ({error})")
    return records


def convert(records, path, instruction=""):
    samples = []
    for number, record in records:
        where = f"{path}:{number}"
        if not isinstance(record, dict):
            raise SystemExit(f"{where}: not a JSON object")
        for field in FIELDS:
            if not isinstance(record.get(field), str):
                raise SystemExit(f"{where}: '{field}' missing or not a string (BABILong records hold {', '.join(FIELDS)})")
        prefix = instruction + "\n\n" if instruction else ""
        samples.append({
            "index": len(samples),
            "input_context": f"{prefix}<context>\n{record['input']}\n</context>\n\n",
            "input_query": f"Question: {record['question']}\nAnswer:",
            "output": record["target"],
        })
    if not samples:
        raise SystemExit(f"{path}: no sample")
    return samples


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="BABILong split as JSON lines or a JSON list")
    parser.add_argument("-o", "--output", required=True, help="JSONL for starbench run --task-file")
    parser.add_argument("--instruction", default="", help="text put before the context (BABILong's instruction)")
    args = parser.parse_args(argv)
    samples = convert(read_records(args.input), args.input, args.instruction)
    if args.output == args.input:
        raise SystemExit("--output names the input file")
    with open(args.output, "w", encoding="utf-8") as handle:
        for sample in samples:
            handle.write(json.dumps(sample, ensure_ascii=False) + "\n")
    print(f"{len(samples)} samples -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
