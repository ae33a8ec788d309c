"""The experiment files in configs/: valid for CLI11 2.1's config reader and for
`starbench run`'s flags, with the settings their comments promise."""
import glob
import os
import re
import subprocess
import tomllib

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "*.toml")) +
                 glob.glob(os.path.join(REPO, "configs", "table7", "*.toml")))  # the paper's host layouts
PRESETS = {"tiny", "llama3-8b", "llama3.1-8b", "llama3.1-70b", "llama3.1-405b", "llama3-8b-gradient-1048k"}


def run_flags() -> set[str]:
    """Long flag names of `starbench run`, read from its sources (no binary needed)."""
    flags = set()
    # duo_flags.cpp, host_flags.cpp: the --duo-* and host flags run and forward share
    for name in ("cmd_run.cpp", "duo_flags.cpp", "host_flags.cpp"):
        source = open(os.path.join(REPO, "src", "cli", name), encoding="utf-8").read()
        # run->add_option("--seq-len", ...), add_setting_list_option(*run, "--method", ...) (cli/setting_options.h)
        flags |= set(re.findall(r'add_(?:\w+_)?(?:option|flag)(?:<\w+>)?\(\s*(?:\*\w+,\s*)?"!?--([a-z0-9-]+)', source))
    return flags


def load(path) -> dict:
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def test_there_are_configs():
    names = {os.path.basename(p) for p in CONFIGS}
    assert {"smoke.toml", "paper_llama31_8b.toml", "gradient_1048k.toml", "block_size_128k.toml",
            "anchor_size_ablation.toml", "llama31_70b.toml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_config_keys_are_run_flags(path):
    flags = run_flags()
    assert {"seq-len", "method", "block-size", "anchor-size", "model-preset"} <= flags  # the parser found them
    unknown = set(load(path)) - flags
    assert not unknown, f"{os.path.basename(path)}: keys that are no `starbench run` flag: {sorted(unknown)}"


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_config_uses_only_what_cli11_reads(path):
    # CLI11 2.1 reads one key per line: an array split over lines fails to parse,
    # and [sections] would address a subcommand of that name.
    for number, line in enumerate(open(path, encoding="utf-8"), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        assert not line.startswith("["), f"line {number}: sections are not used by `starbench run --config`"
        assert re.fullmatch(r"[a-z0-9-]+\s*=\s*\S.*", line), f"line {number}: not a one-line key = value: {line}"
        if "[" in line:
            assert line.rstrip().endswith("]"), f"line {number}: an array must close on its line"


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_config_values(path):
    config = load(path)
    assert config.get("model-preset") in PRESETS or "model" in config  # synthetic weights or a checkpoint
    assert set(config["method"]) <= {"global", "ring", "star", "duo"}
    if "duo" in config["method"]:
        assert os.path.isdir(os.path.join(REPO, config["duo-pattern"]))
    lengths = config["seq-len"]
    assert lengths == sorted(lengths) and all(n > 0 for n in lengths)
    blocks = config.get("block-size", ["C/4"])  # run's default
    for block in blocks:
        if isinstance(block, str):
            assert re.fullmatch(r"[Cc]/[1-9][0-9]*|[0-9]+", block), f"block rule {block!r}"
            continue
        # A fixed block longer than some contexts is skipped there; one longer than all is refused.
        assert block == 0 or block <= max(lengths), "a block longer than every context is refused"
    fixed = [b for b in blocks if isinstance(b, int) and b > 0]
    for anchor in config.get("anchor-size", [-1]):
        assert anchor == -1 or all(anchor <= b for b in fixed)
    for layout in config.get("ring-layout", ["zigzag"]):
        assert layout in {"zigzag", "contiguous"}
    for mode in config.get("anchor-mode", ["auto"]):
        assert mode in {"auto", "recompute", "once", "sent"}


def test_paper_settings():
    paper = load(os.path.join(REPO, "configs", "paper_llama31_8b.toml"))
    assert paper["seq-len"] == [16384, 32768, 65536, 131072]
    assert paper["block-size"] == ["C/4"] and paper["anchor-size"] == [-1]  # Table 1: block = anchor = context / 4
    assert set(paper["ring-layout"]) == {"zigzag", "contiguous"}  # the paper's ring and ours
    launch4 = load(os.path.join(REPO, "configs", "paper_launch_4hosts.toml"))
    assert launch4["seq-len"] == [16384, 32768, 65536] and launch4["block-size"] == ["C/4"]  # 4096, 8192, 16384
    launch8 = load(os.path.join(REPO, "configs", "paper_launch_8hosts.toml"))
    assert launch8["seq-len"] == [131072] and launch8["block-size"] == [16384]
    scaling = load(os.path.join(REPO, "configs", "fixed_block_scaling.toml"))
    assert scaling["block-size"] == [8192, 16384, 32768, 65536] and scaling["seq-len"][-1] == 1048576
    million = load(os.path.join(REPO, "configs", "gradient_1048k.toml"))
    assert million["seq-len"][-1] == 1048576 and "global" not in million["method"]
    blocks = load(os.path.join(REPO, "configs", "block_size_128k.toml"))
    assert blocks["seq-len"] == [131072] and blocks["block-size"] == [4096, 8192, 16384, 32768]


def test_binary_accepts_the_flags():
    """Where the binary is built, its --help lists every key the configs use."""
    binary = os.environ.get("STARBENCH_BIN", os.path.join(REPO, "build", "starbench"))
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no starbench binary at {binary} (set STARBENCH_BIN)")
    help_text = subprocess.run([binary, "run", "--help"], capture_output=True, text=True, timeout=60).stdout
    keys = set().union(*(load(p).keys() for p in CONFIGS))
    missing = [k for k in sorted(keys) if f"--{k}" not in help_text]
    assert not missing, f"`starbench run --help` does not list {missing}"


@pytest.mark.parametrize("path", [p for p in CONFIGS if os.sep + "table7" + os.sep in p], ids=os.path.basename)
def test_table7_layouts_name_their_hosts(path):
    # configs/table7/<model>_<hosts>x<gpus>.toml: the file's GPUs per host, and a command whose ranks make its hosts.
    hosts, gpus = map(int, re.search(r"_(\d+)x(\d+)\.toml$", path).groups())
    config = load(path)
    assert config["gpus-per-host"] == gpus and config["host-split"] in {"tensor", "layers"}
    ranks = re.search(r"--ranks (\d+)", open(path, encoding="utf-8").read())
    assert ranks and int(ranks.group(1)) == hosts * gpus, path
