"""Match events against a fixed set of compiled rules."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from stockade.detection.compile import CompiledRule, Predicate
from stockade.detection.correlate import CompiledCorrelation, Correlator, event_moment
from stockade.detection.logsource import LogsourceFilter, event_id_of, with_aliases
from stockade.detection.model import Match, RuleInfo

__all__ = ["DetectionEngine"]

# (index of the rule's pre-condition in the engine's filter list, or -1 for none; test; rule)
_Entry = tuple[int, Predicate, RuleInfo]


class DetectionEngine:
    """Holds compiled rules and tells which of them match an event.

    Two shortcuts keep matching cheap without changing its result:

    - Rules are indexed by the EventIDs their log source admits, so an event with an EventID
      is only tested against rules that could match it; the rules skipped would fail their
      pre-condition anyway.
    - Rules share a handful of log source pre-conditions; each is evaluated once per event
      instead of once per rule.

    Matches come in rule order. The engine is immutable: to change rules, build a new one.
    """

    def __init__(
        self, rules: Iterable[CompiledRule], correlations: Iterable[CompiledCorrelation] = ()
    ) -> None:
        self._rules = tuple(rules)
        self._correlator = Correlator(correlations)
        self._last_moment = 0.0
        filters: list[LogsourceFilter] = []
        entries: list[_Entry] = []
        for rule in self._rules:
            entries.append(_entry(rule, filters))
        self._filters = tuple(filters)
        self._entries = tuple(entries)
        self._any_event_id = tuple(
            entry for entry, rule in zip(entries, self._rules, strict=True) if not rule.event_ids
        )
        known_ids = {event_id for rule in self._rules for event_id in rule.event_ids}
        self._by_event_id = {
            event_id: tuple(
                entry
                for entry, rule in zip(entries, self._rules, strict=True)
                if not rule.event_ids or event_id in rule.event_ids
            )
            for event_id in known_ids
        }

    @property
    def rules(self) -> tuple[CompiledRule, ...]:
        return self._rules

    @property
    def correlations(self) -> tuple[CompiledCorrelation, ...]:
        return self._correlator.correlations

    def match(self, event: Mapping[str, Any], reference: Hashable = None) -> list[Match]:
        """Every rule whose predicate holds for the event, in rule order, then the correlations
        the event completes.

        Correlations keep state between calls (the engine is a stream processor for them); the
        event's own time (``UtcTime``, ``TimeCreated``, ``@timestamp``) places it in their
        windows, and ``reference`` is how their matches name it. Rules referenced by a
        correlation without ``generate: true`` feed it and report nothing themselves.
        """
        event = with_aliases(event)
        matches = self._match_rules(event)
        if not self._correlator.correlations or not matches:
            return matches
        moment = event_moment(event)
        if moment is None:
            moment = self._last_moment
        self._last_moment = moment
        reported: list[Match] = []
        fired: list[Match] = []
        for match in matches:
            rule_id = match.rule.id
            if self._correlator.watches(rule_id):
                for hit in self._correlator.observe(rule_id, event, moment, reference):
                    fired.append(Match(rule=hit.rule, events=hit.events))
            if not self._correlator.silences(rule_id):
                reported.append(match)
        return reported + fired

    @property
    def correlator(self) -> Correlator:
        return self._correlator

    def flush(self) -> list[Match]:
        """Close every open correlation window (at the end of an offline input)."""
        return [Match(rule=hit.rule, events=hit.events) for hit in self._correlator.flush()]

    def match_rules(self, event: Mapping[str, Any]) -> list[Match]:
        """The plain rules that match (no correlation state, nothing silenced)."""
        event = with_aliases(event)
        return self._match_rules(event)

    def _match_rules(self, event: Mapping[str, Any]) -> list[Match]:
        event_id = event_id_of(event)
        if event_id is None:
            entries = self._entries
        else:
            entries = self._by_event_id.get(event_id, self._any_event_id)
        admitted = [log_filter.admits(event) for log_filter in self._filters]
        admitted.append(True)  # slot -1: rules without a shared pre-condition
        return [Match(rule=info) for slot, test, info in entries if admitted[slot] and test(event)]


def _entry(rule: CompiledRule, filters: list[LogsourceFilter]) -> _Entry:
    if rule.detection is None or rule.precondition is None:
        # Nothing to share: the rule's own predicate is the whole test.
        test = rule.detection if rule.detection is not None else rule.predicate
        return (-1, test, rule.info)
    try:
        slot = filters.index(rule.precondition)
    except ValueError:
        slot = len(filters)
        filters.append(rule.precondition)
    return (slot, rule.detection, rule.info)
