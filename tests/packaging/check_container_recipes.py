"""What can be checked of the container recipes without Apptainer or Docker (neither runs here).

jobs/container/starbench.def (Apptainer) and jobs/container/Dockerfile must
  * start from the same NVIDIA CUDA devel image on Ubuntu 24.04;
  * copy the same paths, each of which exists, and together everything the build reads
    (every top-level path CMakeLists.txt names, .ci/setup.sh, the analysis package's files);
  * install packages only by running .ci/setup.sh plus the GPU libraries (NCCL, cuDNN dev
    packages) that it does not name: the image has what the CI machine has;
  * build with the README's commands (its configure command plus -D options, CUDA required;
    its build command unchanged), with the same default CUDA architectures;
  * install the analysis package as tests/packaging/pip_install_test.sh does;
and jobs/README.md must name both recipes and the binary's path inside the image.

    python3 tests/packaging/check_container_recipes.py      (exit 0: agree; 1: the reasons)
"""
from __future__ import annotations

import os
import re
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFINITION = "jobs/container/starbench.def"
DOCKERFILE = "jobs/container/Dockerfile"
GPU_PACKAGES = {"libnccl-dev", "libcudnn9-dev-cuda-12"}
BINARY = "/opt/starbench/build/starbench"
PREFIX = "/opt/starbench"


def read(path: str) -> str:
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        return handle.read()


def logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.lstrip().startswith("#") and not current:
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        lines.append((current + line).strip())
        current = ""
    return [line for line in lines if line]


def definition_sections(text: str) -> dict[str, list[str]]:
    """The Apptainer file: header keys under '' and each %section's lines."""
    sections: dict[str, list[str]] = {"": []}
    name = ""
    for line in logical_lines(text):
        match = re.match(r"^%(\w+)", line)
        if match:
            name = match.group(1)
            sections[name] = []
        else:
            sections[name].append(line)
    return sections


def shell_commands(lines: list[str]) -> list[str]:
    """Shell lines split at && into single commands."""
    commands = []
    for line in lines:
        commands += [part.strip() for part in line.split("&&") if part.strip()]
    return commands


def setup_packages() -> set[str]:
    """The packages .ci/setup.sh installs (its packages=( ... ) array)."""
    text = read(".ci/setup.sh")
    body = re.search(r"^packages=\((.*?)^\)", text, re.S | re.M).group(1)
    words = []
    for line in body.splitlines():
        words += line.split("#", 1)[0].split()
    return set(words)


def readme_build() -> tuple[list[str], list[str]]:
    """The README's configure and build commands (its first shell block)."""
    block = re.search(r"```bash\n(.*?)```", read("README.md"), re.S).group(1)
    commands = shell_commands(logical_lines(block))
    configure = [shlex.split(c) for c in commands if c.startswith("cmake -S")]
    build = [shlex.split(c) for c in commands if c.startswith("cmake --build")]
    if not configure or not build:
        raise AssertionError("README.md's first bash block has no `cmake -S` / `cmake --build` command")
    return configure[0], build[0]


def recipe(path: str) -> dict:
    """Base image, copied paths (source, destination), shell commands, CUDA_ARCHITECTURES default."""
    text = read(path)
    if path.endswith(".def"):
        sections = definition_sections(text)
        header = dict(line.split(":", 1) for line in sections[""] if ":" in line)
        base = header.get("From", "").strip()
        copies = [tuple(line.split()) for line in sections.get("files", [])]
        commands = shell_commands(sections.get("post", []))
        arguments = dict(line.split("=", 1) for line in sections.get("arguments", []) if "=" in line)
        architectures = arguments.get("CUDA_ARCHITECTURES", "").strip().strip('"')
        commands = [c.replace("{{ CUDA_ARCHITECTURES }}", "${CUDA_ARCHITECTURES}") for c in commands]
    else:
        lines = logical_lines(text)
        base = next(line.split()[1] for line in lines if line.startswith("FROM "))
        copies = [tuple(line.split()[1:]) for line in lines if line.startswith("COPY ")]
        commands = shell_commands([line[4:] for line in lines if line.startswith("RUN ")])
        argument = next((line for line in lines if line.startswith("ARG CUDA_ARCHITECTURES=")), "")
        architectures = argument.split("=", 1)[1].strip().strip('"') if argument else ""
    return {"base": base, "copies": copies, "commands": commands, "architectures": architectures}


def check() -> list[str]:
    problems: list[str] = []
    recipes = {path: recipe(path) for path in (DEFINITION, DOCKERFILE)}
    setup = setup_packages()
    configure, build = readme_build()
    for path, found in recipes.items():
        if not re.fullmatch(r"nvidia/cuda:[0-9.]+-(cudnn-)?devel-ubuntu24\.04", found["base"]):
            problems.append(f"{path}: base image {found['base']!r} is not an NVIDIA CUDA devel image on Ubuntu 24.04")
        # Copies: into the prefix under the same name, existing, covering what the build reads.
        sources = []
        for copy in found["copies"]:
            if len(copy) != 2 or copy[1] != f"{PREFIX}/{copy[0]}":
                problems.append(f"{path}: copy {' '.join(copy)!r} is not 'PATH {PREFIX}/PATH'")
                continue
            sources.append(copy[0])
            if not os.path.exists(os.path.join(ROOT, copy[0])):
                problems.append(f"{path}: copies {copy[0]}, which does not exist")
        cmake_paths = set(re.findall(r"\b((?:src|kernels|configs|jobs|analysis|cmake)/)", read("CMakeLists.txt")))
        needed = {p.rstrip("/") for p in cmake_paths} | {".ci", "CMakeLists.txt", "pyproject.toml", "README.md",
                                                          "LICENSE", "analysis", "configs", "jobs"}
        for missing in sorted(needed - set(sources)):
            problems.append(f"{path}: does not copy {missing} (the build or the image's users need it)")
        found["sources"] = sorted(sources)
        # Packages: .ci/setup.sh, then only the GPU libraries it does not name.
        commands = found["commands"]
        if "bash .ci/setup.sh" not in commands:
            problems.append(f"{path}: does not run `bash .ci/setup.sh` (the CI machine's packages)")
        installed = set()
        for command in commands:
            words = shlex.split(command)
            if words[:2] == ["apt-get", "install"]:
                installed |= {w for w in words[2:] if not w.startswith("-")}
        if installed != GPU_PACKAGES:
            problems.append(f"{path}: installs {sorted(installed)} besides .ci/setup.sh; expected {sorted(GPU_PACKAGES)}")
        if installed & setup:
            problems.append(f"{path}: installs {sorted(installed & setup)} again (.ci/setup.sh has them)")
        # The README's build.
        configures = [shlex.split(c) for c in commands if c.startswith("cmake -S")]
        builds = [shlex.split(c) for c in commands if c.startswith("cmake --build")]
        if len(configures) != 1 or configures[0][:len(configure)] != configure:
            problems.append(f"{path}: configure {configures} does not start with the README's {configure}")
        else:
            extra = configures[0][len(configure):]
            if any(not word.startswith("-D") for word in extra):
                problems.append(f"{path}: configure adds {extra} to the README's: only -D options may be added")
            if "-DSTARBENCH_CUDA=ON" not in extra:
                problems.append(f"{path}: configure does not require the CUDA backend (-DSTARBENCH_CUDA=ON)")
            if "-DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES}" not in extra:
                problems.append(f"{path}: configure does not pass CUDA_ARCHITECTURES as CMAKE_CUDA_ARCHITECTURES")
        if builds != [build]:
            problems.append(f"{path}: build {builds} is not the README's {build}")
        pip = [shlex.split(c) for c in commands if "pip" in c and " install " in c]
        if len(pip) != 1 or not {"--no-deps", "--no-build-isolation", "--no-index"} <= set(pip[0]):
            problems.append(f"{path}: the analysis package is not pip-installed as in tests/packaging/pip_install_test.sh")
    first, second = recipes[DEFINITION], recipes[DOCKERFILE]
    for key in ("base", "sources", "architectures"):
        if first[key] != second[key]:
            problems.append(f"the recipes differ in {key}: {first[key]!r} ({DEFINITION}) vs {second[key]!r} ({DOCKERFILE})")
    if not first["architectures"]:
        problems.append(f"{DEFINITION}: no CUDA_ARCHITECTURES default")
    guide = read("jobs/README.md")
    for name in (DEFINITION, DOCKERFILE, BINARY):
        if name.replace("jobs/", "", 1) not in guide and name not in guide:
            problems.append(f"jobs/README.md does not name {name}")
    return problems


def main() -> int:
    problems = check()
    for problem in problems:
        print(f"container recipes: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"ok: {DEFINITION} and {DOCKERFILE} agree with each other, .ci/setup.sh and README.md's build")
    return 0


if __name__ == "__main__":
    sys.exit(main())
