"""The layer checker on small made-up trees: it must fail on each kind of problem it names."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import check_layers  # noqa: E402

PICTURE = """# design

## Layers (top to bottom)

```
src/top/        uses low
src/low/        the bottom
kernels/        device code
docs/           not code
```
"""


def make_tree(root: pathlib.Path, files: dict[str, str], picture: str = PICTURE) -> pathlib.Path:
    (root / "docs").mkdir()
    (root / "docs" / "DESIGN.md").write_text(picture)
    for folder in ("src/top", "src/low", "kernels"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def test_downward_includes_pass(tmp_path):
    root = make_tree(tmp_path, {"src/top/a.cpp": '#include "low/b.h"\n#include "kernels/k.cuh"\n',
                                "src/low/b.h": '#include "kernels/k.cuh"\n', "kernels/k.cuh": ""})
    assert check_layers.check(root) == []
    assert check_layers.picture_order(root / "docs" / "DESIGN.md") == ["src/top", "src/low", "kernels"]


def test_upward_include_fails_with_file_and_line(tmp_path):
    root = make_tree(tmp_path, {"src/low/b.cpp": '// x\n#include "top/a.h"\n', "src/top/a.h": ""})
    problems = check_layers.check(root)
    assert any(p.startswith("src/low/b.cpp:2:") and "src/top/ is above src/low/" in p for p in problems)


def test_kernels_including_a_folder_above_fails(tmp_path):
    root = make_tree(tmp_path, {"kernels/k.cu": '#include "low/b.h"\n', "src/low/b.h": ""})
    assert any("kernels/k.cu:1:" in p for p in check_layers.check(root))


def test_circle_between_files_of_one_folder_fails(tmp_path):
    root = make_tree(tmp_path, {"src/top/a.h": "", "src/top/a.cpp": '#include "top/b.h"\n',
                                "src/top/b.h": "", "src/top/b.cpp": '#include "top/a.h"\n'})
    problems = check_layers.check(root)
    assert any("include circle between files" in p and "src/top/a" in p for p in problems)


def test_folder_missing_from_the_picture_fails(tmp_path):
    root = make_tree(tmp_path, {"src/extra/x.cpp": ""})
    assert any("src/extra/ holds code" in p for p in check_layers.check(root))


def test_picture_folder_that_does_not_exist_fails(tmp_path):
    root = make_tree(tmp_path, {}, PICTURE.replace("src/low/        the bottom\n",
                                                   "src/low/        the bottom\nsrc/gone/       removed\n"))
    assert any("lists src/gone/" in p for p in check_layers.check(root))


def test_repository_follows_its_picture():
    root = pathlib.Path(__file__).resolve().parents[2]
    assert check_layers.check(root) == []
