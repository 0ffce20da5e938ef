"""`stockade hunt` and `stockade rules check`: detection from the command line.

Exit codes: ``hunt`` answers 0 when it ran, whatever it found, and 2 on bad arguments or rules
it cannot use (a --rules path that does not exist, or no rule at all); single rules that fail
to load are reported on stderr and skipped. ``rules check`` answers 1 if any rule failed to
load (including rules the engine cannot evaluate), 0 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO, Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from stockade.detection.cache import ScanCache
from stockade.detection.engine import DetectionEngine
from stockade.detection.hunt import SIGMA_LEVELS, Finding, Hunt, HuntStats
from stockade.detection.load import RuleSet, builtin_rules, load_rule_paths
from stockade.settings import Settings
from stockade.telemetry.sources import InputProblem

__all__ = ["hunt", "rules_app"]

rules_app = typer.Typer(help="Sigma rules.")
FORMATS = ("table", "json", "jsonl", "csv")
CSV_FIELDS = (
    "type",
    "rule_id",
    "rule_title",
    "level",
    "file",
    "record_id",
    "timestamp",
    "channel",
    "event_id",
    "computer",
    "events",
)
_UNSUPPORTED = "unsupported Sigma construct"


def _load(paths: list[Path], use_cache: bool) -> RuleSet:
    if not paths:
        return builtin_rules()
    cache_dir = Settings().data_dir / "rule-cache" if use_cache else None
    return load_rule_paths(paths, cache_dir=cache_dir)


def hunt(
    paths: Annotated[
        list[str], typer.Argument(help="EVTX / JSON files, directories, or - (stdin)")
    ],
    rules: Annotated[
        list[Path] | None,
        typer.Option(
            "--rules", help="Sigma rule file or directory (repeatable); default: built-in"
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="table, json, jsonl or csv")
    ] = "table",
    output: Annotated[Path | None, typer.Option("--output", help="Write findings here")] = None,
    min_level: Annotated[
        str, typer.Option("--min-level", help="informational, low, medium, high or critical")
    ] = "informational",
    workers: Annotated[int, typer.Option("--workers", min=1, help="Processes")] = 1,
    use_cache: Annotated[
        bool, typer.Option("--cache/--no-cache", help="Keep parsed rules in the data dir")
    ] = True,
) -> None:
    """Hunt with Sigma rules over collected logs."""
    err = Console(stderr=True, soft_wrap=True)
    if output_format not in FORMATS:
        err.print(f"--format must be one of {', '.join(FORMATS)}, not {output_format!r}")
        raise typer.Exit(2)
    if min_level not in SIGMA_LEVELS:
        err.print(f"--min-level must be one of {', '.join(SIGMA_LEVELS)}, not {min_level!r}")
        raise typer.Exit(2)
    missing = [str(path) for path in rules or [] if not path.exists()]
    if missing:
        err.print(f"--rules: no such file or directory: {', '.join(missing)}")
        raise typer.Exit(2)

    started = time.perf_counter()
    rule_set = _load(list(rules or []), use_cache)
    for problem in rule_set.problems:
        err.print(f"[yellow]rule skipped[/]: {problem}", markup=True, highlight=False)
    if not rule_set.rules:
        err.print("no usable rule loaded")
        raise typer.Exit(2)
    scan_cache = None
    if use_cache and rule_set.fingerprint:
        scan_cache = ScanCache(Settings().data_dir / "rule-cache", rule_set.fingerprint)
    engine = DetectionEngine(rule_set.rules, rule_set.correlations, scan_cache=scan_cache)
    err.print(
        f"{len(rule_set.rules)} rules, {len(rule_set.correlations)} correlations ready in "
        f"{time.perf_counter() - started:.1f} s"
    )

    target: IO[str] = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    writer = _Writer(output_format, target)
    problems: list[InputProblem] = []
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = progress.add_task("starting")
    hunt_started = time.perf_counter()

    def on_progress(stats: HuntStats) -> None:
        elapsed = max(time.perf_counter() - hunt_started, 1e-9)
        progress.update(
            task,
            description=(
                f"{stats.events:,} events, {stats.files} files, "
                f"{stats.events / elapsed:,.0f} events/s, {stats.matches:,} matches"
            ),
        )

    def on_problem(problem: InputProblem) -> None:
        problems.append(problem)
        progress.console.print(f"[yellow]input problem[/]: {problem}", highlight=False)

    try:
        with progress:
            stats = Hunt(engine, min_level=min_level, workers=workers).run(
                paths, writer.write, on_problem, on_progress
            )
        writer.close()
    finally:
        if output:
            target.close()
    elapsed = time.perf_counter() - hunt_started
    _summary(err, stats, elapsed)


class _Writer:
    def __init__(self, output_format: str, target: IO[str]) -> None:
        self.format = output_format
        self.target = target
        encoding = (getattr(target, "encoding", None) or "").lower().replace("-", "")
        self.utf8 = encoding == "utf8"
        self.findings: list[Finding] = []  # only the table format needs them all
        self.count = 0
        self.csv = csv.DictWriter(target, CSV_FIELDS) if output_format == "csv" else None
        if self.csv is not None:
            self.csv.writeheader()
        if output_format == "json":
            target.write("[")

    def _dumps(self, data: dict[str, object]) -> str:
        if self.utf8:
            return orjson.dumps(data, default=str).decode()
        return json.dumps(data, default=str)  # escapes what the target could not encode

    def write(self, finding: Finding) -> None:
        data = finding.to_json()
        if self.format == "jsonl":
            self.target.write(self._dumps(data) + "\n")
        elif self.format == "json":
            self.target.write(("," if self.count else "") + "\n" + self._dumps(data))
        elif self.csv is not None:
            data["events"] = " ".join(finding.events)
            self.csv.writerow(data)
        else:
            self.findings.append(finding)
        self.count += 1

    def close(self) -> None:
        if self.format == "json":
            self.target.write("\n]\n")
        elif self.format == "table":
            table = Table(title=f"{self.count} findings")
            for column in ("level", "rule", "file", "record", "timestamp", "computer"):
                table.add_column(column)
            for finding in self.findings:
                table.add_row(
                    finding.level,
                    finding.rule_title,
                    finding.file,
                    str(finding.record_id if finding.record_id is not None else ""),
                    str(finding.timestamp or ""),
                    str(finding.computer or ""),
                )
            # Files and pipes get wide lines; a terminal its own width.
            width = None if self.target.isatty() else 200
            Console(file=self.target, width=width, soft_wrap=False).print(table)
        self.target.flush()


def _summary(console: Console, stats: HuntStats, elapsed: float) -> None:
    rate = stats.events / elapsed if elapsed > 0 else 0.0
    console.print(
        f"{stats.events:,} events in {stats.files} files, {elapsed:.1f} s ({rate:,.0f} events/s), "
        f"{stats.matches:,} matches, {stats.problems} input problems"
    )
    if stats.by_level:
        levels = Table(title="Matches by level")
        levels.add_column("level")
        levels.add_column("matches", justify="right")
        for level in reversed(SIGMA_LEVELS):
            if level in stats.by_level:
                levels.add_row(level, str(stats.by_level[level]))
        console.print(levels)
    if stats.by_rule:
        fired = Table(title=f"Rules that fired ({len(stats.by_rule)})")
        fired.add_column("rule")
        fired.add_column("matches", justify="right")
        for title, count in sorted(stats.by_rule.items(), key=lambda item: (-item[1], item[0])):
            fired.add_row(title, str(count))
        console.print(fired)


@rules_app.command("check")
def check(
    paths: Annotated[list[Path], typer.Argument(help="Rule files or directories")],
    use_cache: Annotated[
        bool, typer.Option("--cache/--no-cache", help="Keep parsed rules in the data dir")
    ] = True,
) -> None:
    """Load rules; report every error and every rule the engine cannot evaluate."""
    out = Console(soft_wrap=True, highlight=False)
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        Console(stderr=True).print(f"no such file or directory: {', '.join(missing)}")
        raise typer.Exit(2)
    rule_set = _load(paths, use_cache)
    errors = [p for p in rule_set.problems if not p.message.startswith(_UNSUPPORTED)]
    unsupported = [p for p in rule_set.problems if p.message.startswith(_UNSUPPORTED)]
    for problem in errors:
        out.print(f"error: {problem}")
    for problem in unsupported:
        out.print(f"not evaluable: {problem}")
    by_source = Counter(rule.info.logsource for rule in rule_set.rules)
    by_source.update("correlation" for _ in rule_set.correlations)
    table = Table(title="Rules by log source")
    table.add_column("log source")
    table.add_column("rules", justify="right")
    for name, count in sorted(by_source.items(), key=lambda item: (-item[1], item[0])):
        table.add_row(name, str(count))
    out.print(table)
    out.print(
        f"{len(rule_set.rules)} rules and {len(rule_set.correlations)} correlations loaded, "
        f"{len(errors)} errors, {len(unsupported)} not evaluable"
    )
    if rule_set.problems:
        raise typer.Exit(1)
