"""The BABILong converter on small files written in BABILong's released format."""
import importlib.util
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("babilong_to_jsonl", ROOT / "jobs/data/babilong_to_jsonl.py")
converter = importlib.util.module_from_spec(spec)
spec.loader.exec_module(converter)

RECORDS = [
    {"input": "Mary moved to the bathroom. John went to the hallway.", "question": "Where is Mary?",
     "target": "bathroom"},
    {"input": "Daniel went back to the kitchen.", "question": "Where is Daniel?", "target": "kitchen"},
]


@pytest.mark.parametrize("layout", ["jsonl", "list"])
def test_converts_both_layouts(tmp_path, layout):
    source = tmp_path / f"qa1.{layout}"
    if layout == "jsonl":
        source.write_text("\n".join(json.dumps(record) for record in RECORDS) + "\n")
    else:
        source.write_text(json.dumps(RECORDS))
    out = tmp_path / "out.jsonl"
    converter.main([str(source), "-o", str(out)])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["index"] for line in lines] == [0, 1]
    assert lines[0]["input_context"] == "<context>\nMary moved to the bathroom. John went to the hallway.\n</context>\n\n"
    assert lines[0]["input_query"] == "Question: Where is Mary?\nAnswer:"
    assert lines[1]["output"] == "kitchen"
    assert set(lines[0]) == {"index", "input_context", "input_query", "output"}


def test_instruction_goes_before_the_context(tmp_path):
    source = tmp_path / "qa1.jsonl"
    source.write_text(json.dumps(RECORDS[0]) + "\n")
    out = tmp_path / "out.jsonl"
    converter.main([str(source), "-o", str(out), "--instruction", "Answer with one word."])
    assert json.loads(out.read_text())["input_context"].startswith("Answer with one word.\n\n<context>\n")


@pytest.mark.parametrize("text, message", [
    ('{"input": "x", "question": "q"}\n', ":1: 'target' missing"),
    ('{"input": "x", "question": "q", "target": "t"}\n{oops\n', ":2: not a JSON object"),
    ("[1]", ":1: not a JSON object"),
    ("\n", "no sample"),
])
def test_refuses_bad_records_naming_the_line(tmp_path, text, message):
    source = tmp_path / "bad.jsonl"
    source.write_text(text)
    with pytest.raises(SystemExit) as error:
        converter.main([str(source), "-o", str(tmp_path / "out.jsonl")])
    assert message in str(error.value)
    assert not (tmp_path / "out.jsonl").exists()
