"""Offline hunting: run a detection engine over collected logs, in one process or several.

The hunt streams: each input file is read event by event (`stockade.telemetry.sources`) and
only findings leave the worker, so memory does not grow with the input. With several workers,
whole files are shared out between forked processes that inherit the compiled engine; the
parent merges their findings and progress, and runs correlations itself, because a
correlation may join events of different files. Workers send the parent, for each match of a
rule a correlation watches, only the fields the correlations need.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from stockade.detection.correlate import CorrelationMatch, event_moment
from stockade.detection.engine import DetectionEngine
from stockade.detection.model import Match, RuleInfo
from stockade.telemetry.sources import (
    InputFile,
    InputProblem,
    Skipped,
    SourceEvent,
    input_files,
    read_file,
)

__all__ = ["SIGMA_LEVELS", "Finding", "Hunt", "HuntStats"]

SIGMA_LEVELS = ("informational", "low", "medium", "high", "critical")
_PROGRESS_EVERY = 5_000  # events between progress messages from a worker
_TIME_FIELDS = ("UtcTime", "TimeCreated", "@timestamp")


@dataclass(frozen=True)
class Finding:
    """One match as `stockade hunt` reports it."""

    rule_id: str
    rule_title: str
    level: str
    file: str
    record_id: Any
    timestamp: Any
    channel: Any
    event_id: Any
    computer: Any
    type: str = "match"
    """``match`` for a rule on one event, ``correlation`` for a correlation rule."""
    events: tuple[str, ...] = ()
    """For a correlation: its events, as ``file#record_id`` (or ``file#n``, the n-th event)."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": self.type,
            "rule_id": self.rule_id,
            "rule_title": self.rule_title,
            "level": self.level,
            "file": self.file,
            "record_id": self.record_id,
            "timestamp": self.timestamp,
            "channel": self.channel,
            "event_id": self.event_id,
            "computer": self.computer,
        }
        if self.type == "correlation":
            data["events"] = list(self.events)
        return data


@dataclass
class HuntStats:
    files: int = 0
    events: int = 0
    matches: int = 0
    problems: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    """Rule title -> matches."""
    by_level: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Observation:
    """A match of a rule some correlation watches, reduced to what correlations need."""

    rule_id: str
    fields: dict[str, Any]
    moment: float | None
    reference: str


@dataclass(frozen=True)
class _Progress:
    events: int
    files: int


_Message = Finding | InputProblem | _Observation | _Progress


def _level_of(rule: RuleInfo) -> str:
    return rule.sigma_level or str(rule.level)


class Hunt:
    """One hunt: an engine, a minimum level, and how many processes to use."""

    def __init__(
        self, engine: DetectionEngine, *, min_level: str = "informational", workers: int = 1
    ) -> None:
        if min_level not in SIGMA_LEVELS:
            raise ValueError(f"min_level must be one of {', '.join(SIGMA_LEVELS)}")
        self.engine = engine
        self.workers = max(1, workers)
        self._min_rank = SIGMA_LEVELS.index(min_level)
        correlator = engine.correlator
        self._watched = frozenset(
            rule_id for c in correlator.correlations for rule_id in c.rule_ids
        )
        self._silenced = frozenset(r for r in self._watched if correlator.silences(r))
        needed: set[str] = set(_TIME_FIELDS)
        for correlation in correlator.correlations:
            needed.update(correlation.group_by)
            for mapping in correlation.aliases.values():
                needed.update(mapping.values())
            if correlation.field:
                needed.add(correlation.field)
        self._needed = tuple(sorted(needed))

    def run(
        self,
        arguments: Iterable[str],
        on_finding: Callable[[Finding], None],
        on_problem: Callable[[InputProblem], None],
        on_progress: Callable[[HuntStats], None] = lambda stats: None,
    ) -> HuntStats:
        stats = HuntStats()
        files: list[InputFile] = []
        for item in input_files(arguments):
            if isinstance(item, InputProblem):
                stats.problems += 1
                on_problem(item)
            else:
                files.append(item)
        if self.workers == 1 or len(files) < 2:
            messages: Iterator[_Message] = (
                message for source in files for message in self._scan(source)
            )
        else:
            messages = self._parallel(files)
        done_events = 0
        done_files = 0
        for message in messages:
            if isinstance(message, Finding):
                self._count(stats, message)
                on_finding(message)
            elif isinstance(message, _Observation):
                moment = message.moment if message.moment is not None else 0.0
                correlator = self.engine.correlator
                for hit in correlator.observe(
                    message.rule_id, message.fields, moment, message.reference
                ):
                    self._emit_correlation(hit, stats, on_finding)
            elif isinstance(message, _Progress):
                done_events += message.events
                done_files += message.files
                stats.events, stats.files = done_events, done_files
                on_progress(stats)
            else:
                stats.problems += 1
                on_problem(message)
        for hit in self.engine.correlator.flush():
            self._emit_correlation(hit, stats, on_finding)
        on_progress(stats)
        return stats

    def _emit_correlation(
        self, hit: CorrelationMatch, stats: HuntStats, on_finding: Callable[[Finding], None]
    ) -> None:
        if SIGMA_LEVELS.index(_level_of(hit.rule)) < self._min_rank:
            return
        events = tuple(str(reference) for reference in hit.events)
        finding = Finding(
            rule_id=hit.rule.id,
            rule_title=hit.rule.title,
            level=_level_of(hit.rule),
            file=events[-1].rsplit("#", 1)[0] if events else "",
            record_id=None,
            timestamp=None,
            channel=None,
            event_id=None,
            computer=None,
            type="correlation",
            events=events,
        )
        self._count(stats, finding)
        on_finding(finding)

    @staticmethod
    def _count(stats: HuntStats, finding: Finding) -> None:
        stats.matches += 1
        stats.by_rule[finding.rule_title] = stats.by_rule.get(finding.rule_title, 0) + 1
        stats.by_level[finding.level] = stats.by_level.get(finding.level, 0) + 1

    def _scan(self, source: InputFile) -> Iterator[_Message]:
        """Everything one file yields; the hot loop of the hunt."""
        match_rules = self.engine.match_rules
        watched, silenced, min_rank = self._watched, self._silenced, self._min_rank
        display = source.display
        count = 0
        reported = 0
        # With several workers the cores are shared out already: one parser thread each.
        threads = 1 if self.workers > 1 else 0
        for item in read_file(source, threads=threads, keep=self.engine.raw_verdict):
            if type(item) is not SourceEvent:
                if type(item) is Skipped:  # no rule can match them: counted, not decoded
                    count += item.count
                    if count - reported >= _PROGRESS_EVERY:
                        yield _Progress(count - reported, 0)
                        reported = count
                else:
                    yield item  # type: ignore[misc]
                continue
            count += 1
            if count - reported >= _PROGRESS_EVERY:
                yield _Progress(count - reported, 0)
                reported = count
            event = item.event
            matches = match_rules(event, item.verdict)
            if not matches:
                continue
            for match in matches:
                rule_id = match.rule.id
                if rule_id in watched:
                    yield self._observation(match, event, display, count)
                if rule_id in silenced:
                    continue
                if SIGMA_LEVELS.index(_level_of(match.rule)) >= min_rank:
                    yield _finding(match, event, display)
        yield _Progress(count - reported, 1)

    def _observation(
        self, match: Match, event: Mapping[str, Any], display: str, position: int
    ) -> _Observation:
        record = event.get("EventRecordID")
        reference = f"{display}#{record if record is not None else position}"
        fields = {name: event[name] for name in self._needed if name in event}
        return _Observation(match.rule.id, fields, event_moment(event), reference)

    def _parallel(self, files: list[InputFile]) -> Iterator[_Message]:
        # fork: workers inherit the compiled engine instead of loading the rules again.
        context = multiprocessing.get_context("fork")
        tasks: multiprocessing.Queue[InputFile | None] = context.Queue()
        results: multiprocessing.Queue[list[_Message] | None] = context.Queue(maxsize=64)
        for source in files:
            tasks.put(source)
        workers = min(self.workers, len(files))
        for _ in range(workers):
            tasks.put(None)
        processes = [
            context.Process(target=self._work, args=(tasks, results), daemon=True)
            for _ in range(workers)
        ]
        for process in processes:
            process.start()
        running = workers
        try:
            while running:
                try:
                    batch = results.get(timeout=1.0)
                except queue.Empty:
                    if not any(process.is_alive() for process in processes):
                        raise RuntimeError("hunt workers died") from None
                    continue
                if batch is None:
                    running -= 1
                    continue
                yield from batch
        finally:
            for process in processes:
                process.join(timeout=5)
                if process.is_alive():
                    process.terminate()

    def _work(
        self,
        tasks: multiprocessing.Queue[InputFile | None],
        results: multiprocessing.Queue[list[_Message] | None],
    ) -> None:
        while (source := tasks.get()) is not None:
            batch: list[_Message] = []
            for message in self._scan(source):
                batch.append(message)
                # Progress flushes the batch, so the parent's bar moves while a file is read.
                if isinstance(message, _Progress) or len(batch) >= 1000:
                    results.put(batch)
                    batch = []
            if batch:
                results.put(batch)
        results.put(None)


def _finding(match: Match, event: Mapping[str, Any], display: str) -> Finding:
    timestamp = event.get("TimeCreated")
    if timestamp is None:
        timestamp = event.get("UtcTime")
    return Finding(
        rule_id=match.rule.id,
        rule_title=match.rule.title,
        level=_level_of(match.rule),
        file=display,
        record_id=event.get("EventRecordID"),
        timestamp=timestamp,
        channel=event.get("Channel"),
        event_id=event.get("EventID"),
        computer=event.get("Computer"),
    )
