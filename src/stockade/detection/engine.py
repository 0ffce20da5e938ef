"""Match events against a fixed set of compiled rules."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from stockade.detection import exclusion, scanplan
from stockade.detection.compile import CompiledRule, Predicate, compile_condition
from stockade.detection.correlate import CompiledCorrelation, Correlator, event_moment
from stockade.detection.logsource import FIELD_ALIASES, event_id_of, with_aliases
from stockade.detection.model import Match
from stockade.detection.prefilter import (
    LiteralScanner,
    RuleScanner,
    clause_rank,
    native_for,
    scan_text,
)

try:  # the native twin of scanplan.raw_bucket (see prefilter.NATIVE)
    from stockade.detection import _rawscan
except ImportError:  # pragma: no cover - depends on the build
    _rawscan = None  # type: ignore[assignment]

__all__ = ["DetectionEngine", "ScanStore"]

_MAX_BUCKETS = 4096  # distinct (EventID, channel) pairs remembered; beyond, computed each time
_BAD_ID = "not an integer"
_MISSING: Any = object()
_raw_bucket = scanplan.raw_bucket if _rawscan is None else _rawscan.bucket


class ScanStore(Protocol):
    """Where compiled scans are kept between runs (`cache.ScanCache`)."""

    def get(self, name: str) -> bytes | None: ...

    def put(self, name: str, data: bytes) -> None: ...


@dataclass(frozen=True)
class _Bucket:
    """The rules that can see events of one (EventID, channel) pair, ready to run."""

    always: tuple[int, ...]
    """Rules without required literals: evaluated on every event of the pair."""
    scanner: LiteralScanner | None
    by_literal: tuple[tuple[int, ...], ...]
    """For the scanner's n-th literal, the rules that require it."""


class DetectionEngine:
    """Holds compiled rules and tells which of them match an event.

    Shortcuts keep matching cheap without changing its result:

    - A rule's log source pre-condition depends only on the event's EventID and Channel, so the
      engine sorts rules into *buckets* per (EventID, channel) pair, once per pair seen; an
      event meets only the rules of its bucket, whose pre-condition holds by construction.
    - Within a bucket, rules with required literals (see `prefilter`) run only if one of their
      literals occurs in the event's lower-cased values; one Hyperscan pass finds them all.
    - Rules without literals run on every event of their bucket.
    - A rule whose detection insists on some EventIDs (``EventID: 4624``) joins only those
      EventIDs' buckets, even when its log source is a whole channel.
    - A raw EVTX record can be judged before it is decoded (`raw_verdict`, see `scanplan`):
      most records of a hunt then need no decoding, the rest only their candidates.

    Matches come in rule order. The engine is immutable apart from correlation state and the
    tuning of its raw scans (each scan locks itself): to change rules, build a new one.
    """

    def __init__(
        self,
        rules: Iterable[CompiledRule],
        correlations: Iterable[CompiledCorrelation] = (),
        *,
        scan_cache: ScanStore | None = None,
    ) -> None:
        self._scan_cache = scan_cache
        self._rules = tuple(rules)
        self._tests: tuple[Predicate, ...] = tuple(
            rule.detection if rule.detection is not None else rule.predicate for rule in self._rules
        )
        self._matches = tuple(Match(rule=rule.info) for rule in self._rules)
        self._buckets: dict[tuple[Any, str | None], _Bucket] = {}
        self._bucket_lock = threading.Lock()
        self._correlator = Correlator(correlations)
        self._last_moment = 0.0
        self._translations: dict[int, scanplan.Formula] = {}
        self._refutations: dict[tuple[int, object], exclusion.Formula] = {}
        """Per rule and field names (`scanplan.raw_keys`), shared by buckets."""
        self._raw_deciders: dict[tuple[int, str], RuleScanner | None] = {}
        """Per (EventID, lower-case channel)."""
        self._raw_by_key: dict[tuple[int, str], RuleScanner | None] = {}
        """The same per (EventID, channel) as records spell it: no lower-casing per record."""
        self._judge = _rawscan.Judge() if _rawscan is not None else None
        """Native verdicts of the buckets whose scan is settled (see `raw_verdict`)."""

    @property
    def rules(self) -> tuple[CompiledRule, ...]:
        return self._rules

    @property
    def correlations(self) -> tuple[CompiledCorrelation, ...]:
        return self._correlator.correlations

    @property
    def correlator(self) -> Correlator:
        return self._correlator

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

    def flush(self) -> list[Match]:
        """Close every open correlation window (at the end of an offline input)."""
        return [Match(rule=hit.rule, events=hit.events) for hit in self._correlator.flush()]

    def match_rules(
        self, event: Mapping[str, Any], candidates: Iterable[int] | None = None
    ) -> list[Match]:
        """The plain rules that match (no correlation state, nothing silenced).

        ``candidates`` (from `raw_verdict`, in rule order) are the only rules that could
        match; without them the engine finds its own."""
        if candidates is None:
            return self._match_rules(with_aliases(event))
        event = with_aliases(event)
        tests, matches = self._tests, self._matches
        return [matches[index] for index in candidates if tests[index](event)]

    def _match_rules(self, event: Mapping[str, Any]) -> list[Match]:
        raw_id = event.get("EventID")
        if raw_id is None or type(raw_id) is int:
            event_id: Any = raw_id
        else:
            event_id = event_id_of(event)
            if event_id is None:
                event_id = _BAD_ID
        channel = event.get("Channel")
        channel_key = channel.lower() if type(channel) is str else None
        bucket = self._buckets.get((event_id, channel_key))
        if bucket is None:
            bucket = self._bucket(event_id, channel_key, channel)
        tests = self._tests
        hits = [index for index in bucket.always if tests[index](event)]
        if bucket.scanner is not None:
            found = bucket.scanner.scan(scan_text(event.values()))
            if found:
                by_literal = bucket.by_literal
                if len(found) == 1:
                    candidates: Iterable[int] = by_literal[found.pop()]
                else:
                    candidates = set().union(*(by_literal[literal] for literal in found))
                more = [index for index in candidates if tests[index](event)]
                if more:
                    hits.extend(more)
                    hits.sort()  # rule order, whatever order the literals came in
        matches = self._matches
        return [matches[index] for index in hits]

    def _bucket(self, event_id: Any, channel_key: str | None, channel: Any) -> _Bucket:
        probe = self._probe(event_id, channel_key, channel)
        always: list[int] = []
        literal_ids: dict[str, int] = {}
        by_literal: list[list[int]] = []
        seen = self._bucket_rules(event_id, probe)
        for index in seen:
            rule = self._rules[index]
            if rule.literals is None:
                always.append(index)
                continue
            for literal in rule.literals:
                slot = literal_ids.get(literal)
                if slot is None:
                    slot = literal_ids[literal] = len(by_literal)
                    by_literal.append([])
                by_literal[slot].append(index)
        bucket = _Bucket(
            always=tuple(always),
            scanner=LiteralScanner(list(literal_ids)) if literal_ids else None,
            by_literal=tuple(tuple(rules) for rules in by_literal),
        )
        with self._bucket_lock:
            if len(self._buckets) < _MAX_BUCKETS:
                self._buckets[(event_id, channel_key)] = bucket
        return bucket

    @staticmethod
    def _probe(event_id: Any, channel_key: str | None, channel: Any) -> dict[str, Any]:
        probe: dict[str, Any] = {}
        if event_id is not None:
            probe["EventID"] = event_id
        if channel is not None:
            probe["Channel"] = channel_key if channel_key is not None else channel
        return probe

    def _bucket_rules(self, event_id: Any, probe: Mapping[str, Any]) -> list[int]:
        """The rules whose log source and EventIDs admit events like the probe."""
        seen: list[int] = []
        for index, rule in enumerate(self._rules):
            if rule.precondition is not None and not rule.precondition.admits(probe):
                continue
            wanted = rule.required_event_ids
            if wanted is not None and event_id not in wanted:
                continue
            seen.append(index)
        return seen

    def raw_verdict(self, raw: str) -> tuple[int, ...] | None:
        """Which rules could match the event a raw EVTX record flattens to.

        ``raw`` is the record as the EVTX parser renders it (compact JSON). Deciding this costs
        one scan, less than decoding and flattening the record, which a hunt then skips when
        the answer is empty. Otherwise the answer goes to `match_rules` as ``candidates``;
        None means the record cannot be judged raw (match it in full).
        """
        judge = self._judge
        if judge is not None:
            verdict = judge.verdict(raw)  # the whole verdict, for settled buckets
            if verdict is not NotImplemented:
                return verdict  # type: ignore[no-any-return]
        key = _raw_bucket(raw)
        if key is None:
            return None
        decider = self._raw_by_key.get(key, _MISSING)
        if decider is _MISSING:
            decider = self._raw_decider(*key)
            if len(self._raw_by_key) < _MAX_BUCKETS:
                self._raw_by_key[key] = decider
        if decider is None:
            if judge is not None and key in self._raw_by_key:
                judge.register(*key, None, ())
            return None
        native = decider.native
        if native:
            candidates = decider.judge(raw)  # `always` rules included
        else:
            text = scanplan.raw_text(raw)
            if text is None:
                return None
            candidates = decider.candidates(text)
        if decider.retuned and self._scan_cache is not None:
            # Tuned to what this input holds: later runs start from the tuned scan.
            decider.retuned = False
            event_id, channel = key
            probe = self._probe(event_id, channel.lower(), channel)
            self._scan_cache.put(self._scan_name(probe), decider.dump())
        settled = decider.settled
        if judge is not None and settled is not None and self._raw_by_key.get(key):
            judge.register(*key, *settled)
        if candidates is None:
            return None
        if native:
            return tuple(sorted(candidates))
        if not candidates:
            return decider.always
        return tuple(sorted({*decider.always, *candidates}))

    def _raw_decider(self, event_id: int, channel: str) -> RuleScanner | None:
        """The scan of one (EventID, channel) pair's records, made on first sight."""
        channel_key = channel.lower()
        decider = self._raw_deciders.get((event_id, channel_key), _MISSING)
        if decider is _MISSING:
            if len(self._raw_deciders) >= _MAX_BUCKETS:
                return None  # so many kinds of record: building a scan for each costs more
            probe = self._probe(event_id, channel_key, channel)
            decider = self._decider(
                self._bucket_rules(event_id, probe),
                probe,
                scanplan.raw_keys(FIELD_ALIASES.get((channel_key, event_id), {})),
            )
            with self._bucket_lock:
                if len(self._raw_deciders) < _MAX_BUCKETS:
                    self._raw_deciders[(event_id, channel_key)] = decider
        return decider

    def _translation(self, index: int) -> scanplan.Formula:
        translation = self._translations.get(index)
        if translation is None:
            trees = self._rules[index].trees
            translation = scanplan.translate(trees, compile_condition) if trees else True
            self._translations[index] = translation
        return translation

    def _decider(
        self, indexes: list[int], probe: Mapping[str, Any], keys: Mapping[str, tuple[str, ...]]
    ) -> RuleScanner | None:
        """The bucket's rules as one scan of raw records (``keys``: see `scanplan.clauses`),
        from the scan cache if there is one and it has it."""
        if self._scan_cache is None:
            return self._build_decider(indexes, probe, keys)
        name = self._scan_name(probe)
        stored = self._scan_cache.get(name)
        if stored is not None:
            loaded = RuleScanner.load(stored)
            if loaded is not None:
                return loaded
        decider = self._build_decider(indexes, probe, keys)
        if decider is not None:
            self._scan_cache.put(name, decider.dump())
        return decider

    @staticmethod
    def _scan_name(probe: Mapping[str, Any]) -> str:
        return f"raw|{sorted(probe.items())!r}"

    def _build_decider(
        self, indexes: list[int], probe: Mapping[str, Any], keys: Mapping[str, tuple[str, ...]]
    ) -> RuleScanner | None:
        always: list[int] = []
        scanned: list[tuple[int, scanplan.Clauses]] = []
        exclusions: list[tuple[int, exclusion.Exclusion]] = []
        # The native scan reads fields itself (exclusions): plain literals serve it best.
        native = native_for(scanplan.RAW_GUARD)
        keys_key = tuple(sorted(keys.items()))
        for index in indexes:
            needs = scanplan.specialise(self._translation(index), probe)
            if needs is False:
                continue
            clauses = scanplan.clauses(needs, clause_rank, keys, in_value=not native)
            if not clauses:
                always.append(index)
            elif all(clauses):  # an empty clause: the rule cannot match here
                scanned.append((index, clauses))
            else:
                continue
            trees = self._rules[index].trees
            if native and trees:  # only the native scan checks exclusions
                refutation = self._refutations.get((index, keys_key))
                if refutation is None:
                    refutation = exclusion.refutation(trees, compile_condition, keys)
                    self._refutations[(index, keys_key)] = refutation
                found = exclusion.specialise(refutation, probe)
                if found:
                    exclusions.append((index, found))
        return RuleScanner.build(
            always,
            scanned,
            guard=scanplan.RAW_GUARD,
            unfit=scanplan.UNFIT,
            exclusions=exclusion.encode(exclusions) if exclusions else None,
        )
