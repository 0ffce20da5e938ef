"""Sigma correlation rules over a stream of base-rule matches. Pure: time is a parameter.

A correlation watches the matches of the rules it references, split into groups by its
``group-by`` fields (aliases let each rule name a group field its own way), and fires when its
condition holds within ``timespan``:

==================  ==========================================================================
type                fires when, within the timespan, in one group
==================  ==========================================================================
event_count         the number of matches satisfies the condition
value_count         the number of distinct values of the condition's field satisfies it
value_sum / _avg    the sum / mean of the field's numeric values satisfies it
temporal            every referenced rule matched (the condition, if any, counts the rules)
temporal_ordered    every referenced rule matched, in the order they are listed
==================  ==========================================================================

Windows: conditions that can only grow true (``gt``, ``gte``, and temporal) are checked on every
match over a sliding window; when one fires, its group starts afresh, so a burst raises one
correlation match, not one per event. Conditions that a later event could make false (``lt``,
``lte``, ``eq``, ``neq``) are checked when a window closes: it opens with a group's first match
and closes ``timespan`` later, noticed when a later match arrives or on `Correlator.flush`
(offline hunting flushes at the end of its input).
"""

from __future__ import annotations

import operator
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from stockade.detection.model import RuleInfo

__all__ = [
    "CompiledCorrelation",
    "CorrelationKind",
    "CorrelationMatch",
    "Correlator",
    "event_moment",
]

TIME_FIELDS = ("UtcTime", "TimeCreated", "@timestamp", "Timestamp")

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
    "neq": operator.ne,
}
_GROWING = frozenset({"gt", "gte"})


class CorrelationKind(StrEnum):
    EVENT_COUNT = "event_count"
    VALUE_COUNT = "value_count"
    VALUE_SUM = "value_sum"
    VALUE_AVG = "value_avg"
    TEMPORAL = "temporal"
    TEMPORAL_ORDERED = "temporal_ordered"


@dataclass(frozen=True)
class CompiledCorrelation:
    info: RuleInfo
    kind: CorrelationKind
    rule_ids: tuple[str, ...]
    """The referenced base rules, resolved to ids, in the order listed."""
    timespan: float
    """Seconds."""
    group_by: tuple[str, ...] = ()
    aliases: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Group field alias -> rule id -> the event field that rule's events carry it in."""
    op: str = "gte"
    threshold: float = 1
    field: str | None = None
    """The field value_count / value_sum / value_avg look at."""
    generate: bool = False
    """Whether the referenced rules still report their own matches."""

    def group_key(self, rule_id: str, event: Mapping[str, Any]) -> tuple[Any, ...]:
        values: list[Any] = []
        for name in self.group_by:
            source = self.aliases.get(name, {}).get(rule_id, name)
            value = event.get(source)
            values.append(value.lower() if isinstance(value, str) else value)
        return tuple(values)

    @property
    def checks_on_arrival(self) -> bool:
        if self.kind in (CorrelationKind.TEMPORAL, CorrelationKind.TEMPORAL_ORDERED):
            return self.op in _GROWING
        return self.op in _GROWING and self.kind is not CorrelationKind.VALUE_AVG


@dataclass(frozen=True)
class CorrelationMatch:
    rule: RuleInfo
    events: tuple[Hashable, ...]
    """References of the events that made it fire, as the caller gave them, oldest first."""
    group: tuple[tuple[str, Any], ...]
    """The group-by fields and their values."""


@dataclass
class _Entry:
    moment: float
    rule_id: str
    value: Any
    event: Hashable


class Correlator:
    """Streaming state of a set of correlations. Safe to share between threads."""

    def __init__(self, correlations: Iterable[CompiledCorrelation]) -> None:
        self._correlations = tuple(correlations)
        self._by_rule: dict[str, list[CompiledCorrelation]] = {}
        for correlation in self._correlations:
            for rule_id in correlation.rule_ids:
                self._by_rule.setdefault(rule_id, []).append(correlation)
        self._silenced = frozenset(
            rule_id
            for correlation in self._correlations
            if not correlation.generate
            for rule_id in correlation.rule_ids
        )
        self._windows: dict[tuple[str, tuple[Any, ...]], deque[_Entry]] = {}
        self._lock = threading.Lock()

    @property
    def correlations(self) -> tuple[CompiledCorrelation, ...]:
        return self._correlations

    def watches(self, rule_id: str) -> bool:
        return rule_id in self._by_rule

    def silences(self, rule_id: str) -> bool:
        """A rule referenced by a correlation without ``generate: true`` reports nothing itself."""
        return rule_id in self._silenced

    def observe(
        self, rule_id: str, event: Mapping[str, Any], moment: float, reference: Hashable
    ) -> list[CorrelationMatch]:
        """Record one match of a base rule; the correlations it completes."""
        fired: list[CorrelationMatch] = []
        with self._lock:
            for correlation in self._by_rule.get(rule_id, ()):
                key = correlation.group_key(rule_id, event)
                window_key = (correlation.info.id, key)
                window = self._windows.setdefault(window_key, deque())
                if (
                    not correlation.checks_on_arrival
                    and window
                    and moment - window[0].moment > correlation.timespan
                ):
                    closed = self._close(correlation, key, window)
                    if closed is not None:
                        fired.append(closed)
                    window.clear()
                value = event.get(correlation.field) if correlation.field else None
                window.append(_Entry(moment, rule_id, value, reference))
                if correlation.checks_on_arrival:
                    while window and moment - window[0].moment > correlation.timespan:
                        window.popleft()
                    if _holds(correlation, window):
                        fired.append(_match(correlation, key, window))
                        window.clear()
        return fired

    def flush(self) -> list[CorrelationMatch]:
        """Close every open window (end of an offline input)."""
        fired: list[CorrelationMatch] = []
        by_id = {correlation.info.id: correlation for correlation in self._correlations}
        with self._lock:
            for (correlation_id, key), window in self._windows.items():
                correlation = by_id[correlation_id]
                if window and not correlation.checks_on_arrival:
                    closed = self._close(correlation, key, window)
                    if closed is not None:
                        fired.append(closed)
            self._windows.clear()
        return fired

    @staticmethod
    def _close(
        correlation: CompiledCorrelation, key: tuple[Any, ...], window: deque[_Entry]
    ) -> CorrelationMatch | None:
        return _match(correlation, key, window) if _holds(correlation, window) else None


def _holds(correlation: CompiledCorrelation, window: deque[_Entry]) -> bool:
    compare = _OPERATORS[correlation.op]
    kind = correlation.kind
    if kind is CorrelationKind.EVENT_COUNT:
        return compare(len(window), correlation.threshold)
    if kind is CorrelationKind.VALUE_COUNT:
        distinct = {entry.value for entry in window if entry.value is not None}
        return compare(len(distinct), correlation.threshold)
    if kind in (CorrelationKind.VALUE_SUM, CorrelationKind.VALUE_AVG):
        numbers = [number for entry in window if (number := _number(entry.value)) is not None]
        if not numbers:
            return False
        total = sum(numbers)
        measure = total if kind is CorrelationKind.VALUE_SUM else total / len(numbers)
        return compare(measure, correlation.threshold)
    if kind is CorrelationKind.TEMPORAL:
        seen = {entry.rule_id for entry in window}
        return len(seen) == len(set(correlation.rule_ids)) and compare(
            len(seen), correlation.threshold
        )
    # temporal_ordered: the rules appear as a subsequence of the window, in the listed order.
    wanted = correlation.rule_ids
    position = 0
    for entry in window:
        if entry.rule_id == wanted[position]:
            position += 1
            if position == len(wanted):
                return True
    return False


def _match(
    correlation: CompiledCorrelation, key: tuple[Any, ...], window: deque[_Entry]
) -> CorrelationMatch:
    return CorrelationMatch(
        rule=correlation.info,
        events=tuple(entry.event for entry in window),
        group=tuple(zip(correlation.group_by, key, strict=True)),
    )


def event_moment(event: Mapping[str, Any]) -> float | None:
    """When the event happened, as POSIX seconds, from its own time fields; None if unknown."""
    for name in TIME_FIELDS:
        raw = event.get(name)
        if isinstance(raw, str) and raw:
            try:
                moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
            except ValueError:
                continue
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment.timestamp()
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
