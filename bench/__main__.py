"""`python -m bench [--quick] [--only NAME ...]`: run benchmarks, print them, rewrite README.md.

A benchmark is any bench/NAME.py (NAME not starting with "_") that defines
`run(quick: bool = False) -> list[Figure]`; new ones are found without
registering them here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import shlex
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from . import _render
from ._machine import machine
from ._report import Figure

BENCH = Path(__file__).resolve().parent
README = BENCH / "README.md"


def discover() -> dict[str, ModuleType]:
    """Every benchmark module, by name."""
    found = {}
    for info in pkgutil.iter_modules([str(BENCH)]):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__package__}.{info.name}")
        if callable(getattr(module, "run", None)):
            found[info.name] = module
    return dict(sorted(found.items()))


def _summary(module: ModuleType) -> str:
    """The first paragraph of a module's docstring, on one line."""
    doc = (module.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(doc.split())


def _command(argv: Sequence[str]) -> str:
    """How this run was started, as someone would type it in the repository."""
    python = Path(sys.executable)
    if python.is_relative_to(Path.cwd()):
        python = python.relative_to(Path.cwd())
    return shlex.join([str(python), "-m", "bench", *argv])


def _table(name: str, figures: list[Figure], width: int) -> Table:
    table = Table(title=name, title_justify="left")
    notes = width >= 140  # notes run long: a narrow terminal gets them from the README only
    for column in _render.COLUMNS if notes else _render.COLUMNS[:-1]:
        table.add_column(column, justify="right" if column == "value" else "left")
    for figure in figures:
        cells = [escape(cell) for cell in _render.row(figure)]
        style = {"yes": "green", "NO": "bold red"}.get(cells[4])
        if style:
            cells[4] = f"[{style}]{cells[4]}[/]"
        table.add_row(*cells[: len(table.columns)])
    return table


def _parse(argv: Sequence[str], known: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, about 10 s a benchmark")
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", choices=known, help=f"run only these of: {', '.join(known)}"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="write the README here (default bench/README.md; --quick writes only with --output)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    modules = discover()
    args = _parse(argv, list(modules))
    console = Console()
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[RichHandler(console=console)])
    run = _render.Run(
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        command=_command(argv),
        machine=machine(BENCH).describe(),
    )
    console.print(f"[bold]{run.command}[/] on {run.machine}")
    fresh, missed = {}, []
    for name in args.only or modules:
        module = modules[name]
        with console.status(f"running bench/{name}.py{' (quick)' if args.quick else ''}"):
            figures = module.run(quick=args.quick)
        console.print(_table(name, figures, console.width))
        missed += [f"{name}: {f.metric}" for f in figures if f.met is False]
        fresh[name] = _render.section(name, _summary(module), figures, run, os.getloadavg()[0])
    if missed:
        # Reported, not fatal: a slow machine should still get its README.
        console.print("[bold red]targets missed:[/] " + "; ".join(missed))
    output = args.output or (None if args.quick else README)
    if output is None:
        console.print("--quick: figures printed only; bench/README.md left as it was")
        return 0
    previous = output.read_text() if output.exists() else ""
    output.write_text(_render.readme(run, fresh, previous))
    console.print(f"wrote {os.path.relpath(output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
