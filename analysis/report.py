"""`report`: the figures and report.md for one or more results files."""
from __future__ import annotations

import os

from . import duo, figures, paper, tables, validation
from .results import ResultsError, load_runs


def _figure_section(title: str, path: str | None, missing: str) -> str:
    if path is None:
        return f"## {title}\n\n_Not drawn: {missing}_\n\n"
    return f"## {title}\n\n![{title}]({os.path.basename(path)})\n\n"


def write_report(inputs: list[str], out_dir: str) -> dict:
    """Writes the PNGs and report.md into out_dir; returns {figure name: path or None}."""
    runs = load_runs(inputs)
    if runs.empty:
        raise ResultsError(f"no complete runs in {', '.join(inputs)}")
    os.makedirs(out_dir, exist_ok=True)
    points = paper.load_points()

    speedup = tables.speedup(runs)
    breakdown = tables.breakdown(runs)
    phases = tables.phase_times(runs)
    fidelity = tables.fidelity(runs)
    tasks = tables.task_accuracy(runs)
    blocks = tables.block_tradeoff(runs)
    memory = tables.memory(runs)
    duo_table = duo.comparison(runs)

    made = {
        "speedup": figures.speedup_figure(speedup, points, out_dir),
        "breakdown": figures.breakdown_figure(phases, out_dir),
        "accuracy": figures.accuracy_figure(tasks, fidelity, points, out_dir),
        "block_size": figures.block_size_figure(blocks, out_dir),
        "memory": figures.memory_figure(phases, runs, out_dir),
        "work": figures.work_figure(runs, out_dir),
        "validation": figures.validation_figure(validation.validation(runs), out_dir),
        "surface": figures.surface_figure(runs, out_dir),
        "duo": duo.figure(duo_table, out_dir),
    }

    setups = runs.drop_duplicates(["model", "backend", "device"])[["model", "backend", "device"]]
    text = ["# starbench report\n",
            f"{len(runs)} run(s) from {', '.join(f'`{p}`' for p in inputs)}.\n",
            "Times are medians over repeats of the slowest rank; a setting run more than once (several files, "
            "or runs that differ only in `--repeats`) is the median of all their repeats together (`runs`: how "
            "many runs, `repeats`: how many repeats), and runs with and without a warm-up are kept apart "
            "(`warmup`; drawn with their own marker). Speedup = ring time / star time at the same "
            "length, rank count and warm-up, one line per ring layout (zigzag: load-balanced; contiguous: the "
            "paper's baseline) and star block rule (anchor = block; the anchor mode in the table). Figures have "
            "one panel per setting (model, GPU, rank count, host layout).\n",
            tables.with_markdown(setups.reset_index(drop=True)), "\n"]
    text.append(_figure_section("Speedup of star over ring", made["speedup"], "needs ring and star timing runs."))
    unlabelled = "star_label" in speedup and not speedup.star_label.astype(bool).any()
    text.append(tables.with_markdown(speedup.drop(columns=["device"] + (["star_label"] if unlabelled else [])))
                + "\n")
    text.append(_figure_section("Work per rank beside time", made["work"],
                                "needs ring and star runs with per-rank work counts (recorded since they exist)."))
    text.append(_figure_section("Simulator vs measurement", made["validation"],
                                "needs measured runs and their simulated twins (`starbench simulate`)."))
    if made["validation"]:
        text.append(validation.markdown(validation.validation(runs)) + "\n")
    text.append(_figure_section("Simulated scaling surface", made["surface"],
                                "needs simulated ring and star runs at three or more GPU counts."))
    text.append(_figure_section("Time per phase", made["breakdown"], "no timing runs."))
    text.append(tables.with_markdown(breakdown.drop(columns=["device"])) + "\n")
    text.append(_figure_section("Accuracy relative to global", made["accuracy"],
                                "no task runs and no fidelity numbers (needs a global run at the same length)."))
    if not tasks.empty:
        text.append("Task accuracy:\n\n" + tables.with_markdown(tasks.drop(columns=["device"])) + "\n")
    text.append("Fidelity of the same forward pass vs global:\n\n"
                + tables.with_markdown(fidelity.drop(columns=["device"])) + "\n")
    text.append(_figure_section("Block-size trade-off", made["block_size"],
                                "needs star runs with two or more block sizes at one length."))
    if not blocks.empty:
        text.append(tables.with_markdown(blocks.drop(columns=["device"])) + "\n")
    text.append(_figure_section("Memory per rank", made["memory"], "no peak memory recorded."))
    text.append(tables.with_markdown(memory.drop(columns=["device", "peak_mem_bytes"])) + "\n")
    text.append(_figure_section("DuoAttention vs global", made["duo"], "needs duo and global timing runs at one length."))
    if not duo_table.empty:
        text.append("Ratios are global / duo; memory is the peak while decoding. " + duo.SOURCE + ".\n\n"
                    + tables.with_markdown(duo.summary(duo_table).drop(columns=["device"])) + "\n")
    text.append("## Published numbers overlaid\n\n" + paper.source_note() + "\n\n"
                + tables.with_markdown(points) + "\n")
    with open(os.path.join(out_dir, "report.md"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(text))
    return made
