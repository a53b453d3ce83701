"""`impetus bench`: measurements written to BENCHMARKS.md."""

from __future__ import annotations

import typer

bench_app = typer.Typer(help="Benchmarks; results go to BENCHMARKS.md.", no_args_is_help=False)
