"""python3 -m analysis {report,merge,accuracy,speedup-table,profile,validate} ... (from a checkout), or
starbench-analysis ... (the same, installed with pip: pyproject.toml)."""
from __future__ import annotations

import argparse
import sys

from . import tables, validation
from .accuracy_study import write_accuracy_report
from .merge import merge
from .report import write_report
from .results import ResultsError


def main(argv: list[str] | None = None, prog: str = "python3 -m analysis") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="starbench results analysis")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="figures (PNG) and report.md from results files")
    report.add_argument("inputs", nargs="+", help="starbench results files (.h5)")
    report.add_argument("--out", required=True, help="output directory (created if missing)")
    combine = commands.add_parser("merge", help="combine results files (one run per identity)")
    combine.add_argument("output", help="merged file (created, or extended when it is a results file)")
    combine.add_argument("inputs", nargs="+", help="results files to add")
    study = commands.add_parser("accuracy", help="accuracy study tables and figure (docs/ACCURACY.md)")
    study.add_argument("inputs", nargs="+", help="results files of `starbench run --task` (.h5)")
    study.add_argument("--out", required=True, help="output directory (created if missing)")
    study = commands.add_parser("speedup-table", help="every timing run with its speedups over both ring layouts")
    study.add_argument("inputs", nargs="+", help="results files")
    hardware = commands.add_parser("profile", help="a hardware profile (starbench calibrate) as tables")
    hardware.add_argument("path", help="configs/hardware/<gpu>.json")
    check = commands.add_parser("validate", help="simulated runs against measured ones (docs/SIMULATOR.md)")
    check.add_argument("inputs", nargs="+", help="results files holding measured and simulated runs")
    args = parser.parse_args(argv)
    try:
        if args.command == "report":
            made = write_report(args.inputs, args.out)
            for name, path in made.items():
                print(f"{name:<11} {path if path else '(no data: skipped)'}")
            print(f"report      {args.out}/report.md")
        elif args.command == "accuracy":
            made = write_accuracy_report(args.inputs, args.out)
            for name, path in made.items():
                print(f"{name:<11} {path if path else '(no such runs: skipped)'}")
        elif args.command == "speedup-table":
            from .results import load_runs
            print(tables.with_markdown(tables.study_table(load_runs(args.inputs)), digits=4), end="")
        elif args.command == "profile":
            from .profile import summary
            print(summary(args.path), end="")
        elif args.command == "validate":
            from .results import load_runs
            print(validation.markdown(validation.validate(load_runs(args.inputs))), end="")
        else:
            summary = merge(args.output, args.inputs)
            print(f"{args.output}: {summary.copied} run(s) added, {summary.duplicates} duplicate(s) skipped, "
                  f"{summary.incomplete} incomplete run(s) ignored"
                  + (f", {summary.damaged} damaged run(s) left out" if summary.damaged else ""))
    except ResultsError as error:
        print(f"analysis: error: {error}", file=sys.stderr)
        return 1
    return 0


def console_main() -> int:
    """The `starbench-analysis` command of the installed package."""
    return main(prog="starbench-analysis")


if __name__ == "__main__":
    sys.exit(main())
