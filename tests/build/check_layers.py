#!/usr/bin/env python3
"""Checks that every `#include "..."` in src/ and kernels/ follows the layer picture of docs/DESIGN.md.

The order of the folders is read from one place: the code block under "## Layers" in docs/DESIGN.md, whose
lines that start with `src/<folder>/` or `kernels/` list the code folders top to bottom. The check fails on
  - a code folder that the picture does not list, or a listed folder that does not exist;
  - an include from a folder to one listed above it (an upward include), naming the file and line;
  - an include circle between folders (which an upward include always makes; reported with its path);
  - an include circle between the units of one folder (a unit: a .h/.cpp/.cu/.cuh pair of one stem, so
    a.cpp including b.h while b.cpp includes a.h is a circle, even though no header includes itself).

Usage: check_layers.py [REPO_ROOT]   (default: the checkout that holds this script)
"""
import pathlib
import re
import sys
from collections import defaultdict

CODE_SUFFIXES = {".h", ".hpp", ".cpp", ".cu", ".cuh", ".inc", ".in"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
PICTURE_LINE = re.compile(r"^(src/[A-Za-z0-9_]+/|kernels/)")


def picture_order(design: pathlib.Path) -> list[str]:
    """The code folders of the "## Layers" picture, top (depends on the rest) to bottom."""
    text = design.read_text(encoding="utf-8")
    section = re.search(r"^## Layers.*?^```\n(.*?)^```", text, re.S | re.M)
    if not section:
        raise SystemExit(f"{design}: no code block under a '## Layers' heading")
    order = []
    for line in section.group(1).splitlines():
        match = PICTURE_LINE.match(line)
        if match:
            order.append(match.group(1).rstrip("/"))
    if not order:
        raise SystemExit(f"{design}: the '## Layers' picture lists no src/ or kernels/ folder")
    duplicates = {folder for folder in order if order.count(folder) > 1}
    if duplicates:
        raise SystemExit(f"{design}: the layer picture lists {sorted(duplicates)} more than once")
    return order


def code_folders(root: pathlib.Path) -> list[str]:
    folders = [f"src/{p.name}" for p in sorted((root / "src").iterdir()) if p.is_dir()]
    if (root / "kernels").is_dir():
        folders.append("kernels")
    return folders


def folder_of(path: str, folders: set[str]) -> str | None:
    """The code folder an include path ("backend/cuda/x.h", "kernels/y.cuh") or a file path points into."""
    parts = path.split("/")
    for candidate in (parts[0], f"src/{parts[0]}", "/".join(parts[:2])):
        if candidate in folders:
            return candidate
    return None


def unit_of(path: str) -> str:
    """A file's unit: its path without the suffix (method.h and method.cpp are one unit)."""
    return str(pathlib.PurePosixPath(path).with_suffix(""))


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle in a directed graph, as a closed path, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def check(root: pathlib.Path) -> list[str]:
    problems = []
    design = root / "docs" / "DESIGN.md"
    order = picture_order(design)
    existing = code_folders(root)
    for folder in existing:
        if folder not in order:
            problems.append(f"{folder}/ holds code but docs/DESIGN.md's layer picture does not list it")
    for folder in order:
        if folder not in existing:
            problems.append(f"docs/DESIGN.md's layer picture lists {folder}/, which does not exist")
    rank = {folder: i for i, folder in enumerate(order)}  # 0 = top
    known = set(existing)

    folder_graph: dict[str, set[str]] = defaultdict(set)
    unit_graph: dict[str, set[str]] = defaultdict(set)
    for folder in existing:
        for source in sorted((root / folder).rglob("*")):
            if source.suffix not in CODE_SUFFIXES or not source.is_file():
                continue
            relative = source.relative_to(root).as_posix()
            for number, line in enumerate(source.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                match = INCLUDE.match(line)
                if not match:
                    continue
                included = match.group(1)
                if "/" not in included:  # a file beside this one
                    target_folder, target_path = folder, (source.parent / included).relative_to(root).as_posix()
                else:
                    target_folder = folder_of(included, known)
                    if target_folder is None:
                        continue  # not ours (a generated or third-party header)
                    target_path = included if target_folder == "kernels" else f"src/{included}"
                if target_folder != folder:
                    folder_graph[folder].add(target_folder)
                    if folder in rank and target_folder in rank and rank[target_folder] < rank[folder]:
                        problems.append(
                            f"{relative}:{number}: includes \"{included}\": {target_folder}/ is above {folder}/ "
                            "in docs/DESIGN.md's layer picture")
                elif unit_of(target_path) != unit_of(relative):
                    unit_graph[unit_of(relative)].add(unit_of(target_path))

    cycle = find_cycle(folder_graph)
    if cycle:
        problems.append("include circle between folders: " + " -> ".join(cycle))
    cycle = find_cycle(unit_graph)
    if cycle:
        problems.append("include circle between files (by stem: .h and .cpp together): " + " -> ".join(cycle))
    return problems


def main() -> int:
    root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2]
    problems = check(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} layer problem(s); the order is docs/DESIGN.md's '## Layers' picture")
        return 1
    print(f"includes follow the layer picture: {' > '.join(picture_order(root / 'docs' / 'DESIGN.md'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
