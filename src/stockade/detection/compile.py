"""Compile parsed Sigma rules into Python predicates over one event.

pySigma parses the rule and applies its modifiers; this module turns the resulting condition
tree into closures. An event is a flat mapping of Sysmon/Windows field names to str, int, float,
bool or None values.

How to add a construct (the tree grows with the Sigma spec):

1. Condition node type: write ``_compile_<node>(node) -> Predicate`` and register it in
   ``_CONDITION_COMPILERS``.
2. Value type under a field: write ``_compile_<type>(value) -> ValueMatcher`` and register it
   in ``_VALUE_COMPILERS``. A value matcher sees the field value only when it is not None.
3. Value types that need the whole event (field references, null, exists) go into
   ``_FIELD_COMPILERS`` instead.
4. Lookups are by exact type, so a new pySigma subclass is reported as unsupported instead of
   being matched as its parent.

Matching semantics:

- Strings match case-insensitively unless the value carries the ``cased`` modifier.
  Wildcard-free strings compare for equality; wildcards only at the ends become
  startswith / endswith / substring tests; anything else becomes an anchored regex.
- Numbers match numeric event values and their text form (EventID 1 matches "1"); text is
  read as a number only when it is a plain decimal ("1", " 01 ", "1.0", not "1e0").
- Strings match the text form of numbers and booleans (``'443'`` matches 443).
- ``null`` matches a missing field or None; a missing field matches nothing else.
- ``re`` is a Python regex searched anywhere in the value, case-sensitive unless ``|i``.
- A keyword (value without a field) is a full-text search: it matches when any field value
  of the event contains it (or matches it, when the keyword has wildcards of its own).
- Placeholders (``expand``) take the values the loader was given for them (any of them
  matches); a placeholder without values stays the literal text ``%name%``, so a selection on
  it matches nothing and a filter on it excludes nothing.
- Time-part modifiers (``minute`` .. ``year``) parse the field as an ISO 8601 or
  ``YYYY-MM-DD hh:mm:ss`` time and compare that part (``week`` is the ISO week).

Anything else raises ``UnsupportedRuleError`` naming the construct, at compile time.
"""

from __future__ import annotations

import re
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address
from types import MappingProxyType
from typing import Any, Literal

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
    TimestampPart,
)

from stockade.detection.correlate import CompiledCorrelation, CorrelationKind
from stockade.detection.logsource import LogsourceFilter, logsource_filter
from stockade.detection.model import RuleInfo, severity_for_level
from stockade.detection.prefilter import required_event_ids, required_literals

__all__ = [
    "TACTIC_CATEGORIES",
    "CompiledRule",
    "PlaceholderValues",
    "Predicate",
    "RulePlan",
    "StringPattern",
    "UnsupportedRuleError",
    "ValueMatcher",
    "compile_condition",
    "compile_correlation",
    "compile_plan",
    "compile_rule",
    "compile_value",
    "plan_rule",
    "rule_info",
    "string_pattern",
]

Event = Mapping[str, Any]
Predicate = Callable[[Event], bool]
ValueMatcher = Callable[[Any], bool]
"""Tests one non-None field value."""

# Namespace for ids of rules that have none, so the same title always gets the same id.
_TITLE_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:stockade:detection:sigma-title")

TACTIC_CATEGORIES: dict[str, str] = {
    "reconnaissance": "Reconnaissance",
    "resource-development": "ResourceDevelopment",
    "initial-access": "InitialAccess",
    "execution": "Execution",
    "persistence": "Persistence",
    "privilege-escalation": "PrivilegeEscalation",
    "defense-evasion": "DefenseEvasion",
    # ATT&CK v18 split Defense Evasion into Stealth and Defense Impairment; alerts keep the
    # Defender category both halves used to have.
    "stealth": "DefenseEvasion",
    "defense-impairment": "DefenseEvasion",
    "credential-access": "CredentialAccess",
    "discovery": "Discovery",
    "lateral-movement": "LateralMovement",
    "collection": "Collection",
    "command-and-control": "CommandAndControl",
    "exfiltration": "Exfiltration",
    "impact": "Impact",
}
"""ATT&CK tactic tag (``attack.<name>``, ``_`` or ``-``) -> alert category."""

_INFIX_REGEX_THRESHOLD = 8
_TRIE_MAX_WORD = 256  # trie building recurses once per character

_TECHNIQUE_TAG = re.compile(r"t\d{4}(?:\.\d{3})?")


class UnsupportedRuleError(Exception):
    """The rule uses a Sigma construct this compiler does not implement (yet)."""

    def __init__(self, construct: str) -> None:
        super().__init__(f"unsupported Sigma construct: {construct}")
        self.construct = construct


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to test events: its description plus one predicate."""

    info: RuleInfo
    predicate: Predicate
    """The whole test: log source pre-condition and detection condition."""
    precondition: LogsourceFilter | None = None
    """The log source part of `predicate`, kept apart so that an engine can evaluate it once
    for all rules of the same log source. None: no pre-condition."""
    detection: Predicate | None = None
    """The detection part of `predicate` alone; None if only `predicate` is known."""
    literals: frozenset[str] | None = None
    """Lower-cased strings of which one occurs in some value of every event the rule matches
    (see `prefilter`); None: no such promise, the rule must always be evaluated."""
    required_event_ids: frozenset[int] | None = None
    """EventIDs the detection itself insists on (``EventID: 4624``); None: any."""
    trees: tuple[object, ...] = ()
    """pySigma condition trees the detection was built from (see `scanplan`); empty if
    unknown."""

    @property
    def event_ids(self) -> frozenset[int]:
        """EventIDs the pre-condition admits; empty means any (or unknown)."""
        if self.precondition is None:
            return frozenset()
        return self.precondition.event_ids

    def matches(self, event: Event) -> bool:
        return self.predicate(event)


# --- rule --------------------------------------------------------------------------------------


def rule_info(rule: SigmaRule | SigmaCorrelationRule, source: str) -> RuleInfo:
    """Describe a rule: id, severity and ATT&CK context from its tags."""
    tags = tuple(str(tag) for tag in rule.tags)
    techniques: list[str] = []
    category = ""
    for tag in rule.tags:
        if tag.namespace.lower() != "attack":
            continue
        name = tag.name.lower().replace("_", "-")
        if _TECHNIQUE_TAG.fullmatch(name):
            technique = name.upper()
            if technique not in techniques:
                techniques.append(technique)
        elif not category and name in TACTIC_CATEGORIES:
            category = TACTIC_CATEGORIES[name]
    if rule.id is not None:
        rule_id = str(rule.id)
    else:
        rule_id = str(uuid.uuid5(_TITLE_ID_NAMESPACE, rule.title))
    return RuleInfo(
        id=rule_id,
        title=rule.title,
        level=severity_for_level(str(rule.level) if rule.level is not None else None),
        description=(rule.description or "").strip(),
        tags=tags,
        mitre_techniques=tuple(techniques),
        category=category,
        source=source,
        sigma_level=str(rule.level).lower() if rule.level is not None else "",
        logsource=_logsource_name(rule),
    )


def _logsource_name(rule: SigmaRule | SigmaCorrelationRule) -> str:
    if isinstance(rule, SigmaCorrelationRule):
        return "correlation"
    logsource = rule.logsource
    parts = (logsource.product, logsource.category, logsource.service)
    return "/".join(part for part in parts if part) or "(none)"


PlaceholderValues = Mapping[str, Sequence[str]]
"""Placeholder name (without %) -> the values it stands for."""

_placeholders: ContextVar[PlaceholderValues] = ContextVar(
    "placeholders", default=MappingProxyType({})
)


@dataclass(frozen=True)
class RulePlan:
    """A rule parsed and checked, before its predicates are built: plain data that pickles
    small and loads fast, so a rule cache can skip YAML, pySigma and condition parsing."""

    info: RuleInfo
    logsource: tuple[str | None, str | None, str | None]
    """product, category, service"""
    trees: tuple[object, ...]
    """pySigma condition trees (alternatives), stripped of parent and source links."""
    literals: frozenset[str] | None
    required_event_ids: frozenset[int] | None


def plan_rule(rule: SigmaRule, source: str) -> RulePlan:
    """Parse a rule's conditions. Raises like `compile_rule`."""
    if not isinstance(rule, SigmaRule):
        raise UnsupportedRuleError(f"{type(rule).__name__} (only detection rules are supported)")
    if rule.errors:
        raise rule.errors[0]
    trees: list[object] = []
    for condition in rule.detection.parsed_condition:
        tree = condition.parse()
        if tree is None:
            raise UnsupportedRuleError("condition that resolves to no detection")
        trees.append(_slim(tree))
    logsource = rule.logsource
    return RulePlan(
        info=rule_info(rule, source),
        logsource=(logsource.product, logsource.category, logsource.service),
        trees=tuple(trees),
        literals=required_literals(trees),
        required_event_ids=required_event_ids(trees),
    )


def _detection(plan: RulePlan, placeholders: PlaceholderValues | None) -> Predicate:
    token = _placeholders.set(placeholders or {})
    try:
        conditions = [compile_condition(tree) for tree in plan.trees]
    finally:
        _placeholders.reset(token)
    # Several conditions in one rule are alternatives (Sigma spec).
    return _any_of(conditions)


def _deferred(plan: RulePlan, placeholders: PlaceholderValues | None) -> Predicate:
    built: Predicate | None = None

    def detection(event: Event) -> bool:
        nonlocal built
        if built is None:  # two threads may both build it: same result, no harm
            built = _detection(plan, placeholders)
        return built(event)

    return detection


def _slim(node: object) -> object:
    """A copy of a condition tree without the back links to the rule (which would drag the
    whole rule into a pickle)."""
    copy = object.__new__(type(node))
    state = dict(node.__dict__)
    for link in ("parent", "source", "policy"):
        if link in state:
            state[link] = None
    if "args" in state:
        state["args"] = [_slim(arg) for arg in state["args"]]
    if "value" in state and hasattr(state["value"], "__dict__"):
        state["value"] = _slim(state["value"])
    if "values" in state and isinstance(state["values"], list):
        state["values"] = [
            _slim(item) if hasattr(item, "__dict__") else item for item in state["values"]
        ]
    copy.__dict__.update(state)
    return copy


def compile_rule(
    rule: SigmaRule, source: str, placeholders: PlaceholderValues | None = None
) -> CompiledRule:
    """Compile one parsed rule.

    Raises ``UnsupportedRuleError`` for constructs not implemented here, and the rule's first
    ``sigma.exceptions.SigmaError`` if pySigma reported problems with it (or finds one while
    resolving the condition).
    """
    return compile_plan(plan_rule(rule, source), placeholders)


def compile_plan(
    plan: RulePlan, placeholders: PlaceholderValues | None = None, *, lazy: bool = False
) -> CompiledRule:
    """Build a rule's predicates from its plan.

    ``lazy`` defers building them to the first event that needs them: with the prefilter most
    rules never run on a given input, and loading a cached rule set then costs next to
    nothing. Only plans that compiled once already should be loaded lazily (a rule cache
    holds no others), so the deferred build does not fail.
    """
    detection = _deferred(plan, placeholders) if lazy else _detection(plan, placeholders)
    precondition = logsource_filter(*plan.logsource)
    if precondition is None:
        predicate = detection
    else:
        admits = precondition.admits

        def predicate(event: Event) -> bool:
            return admits(event) and detection(event)

    return CompiledRule(
        info=plan.info,
        predicate=predicate,
        precondition=precondition,
        detection=detection,
        literals=plan.literals,
        required_event_ids=plan.required_event_ids,
        trees=plan.trees,
    )


_CORRELATION_KINDS = {kind.value: kind for kind in CorrelationKind}


def compile_correlation(
    rule: SigmaCorrelationRule, source: str, rule_ids: Mapping[str, str]
) -> CompiledCorrelation:
    """Compile a correlation rule; ``rule_ids`` maps rule ids and names to rule ids."""
    if rule.errors:
        raise rule.errors[0]
    kind = _CORRELATION_KINDS.get(str(rule.type))
    if kind is None:
        raise UnsupportedRuleError(f"correlation type {rule.type}")
    condition = rule.condition
    if not isinstance(condition, SigmaCorrelationCondition):
        raise UnsupportedRuleError("extended correlation condition")

    def resolve(reference: str) -> str:
        resolved = rule_ids.get(reference)
        if resolved is None:
            raise UnsupportedRuleError(f"correlation references unknown rule '{reference}'")
        return resolved

    referenced = tuple(resolve(reference.reference) for reference in rule.rules or ())
    aliases = {
        alias.alias: {resolve(ref.reference): name for ref, name in alias.mapping.items()}
        for alias in rule.aliases
    }
    field = condition.fieldref
    if isinstance(field, list):
        if len(field) != 1:
            raise UnsupportedRuleError("correlation condition on several fields")
        field = field[0]
    return CompiledCorrelation(
        info=rule_info(rule, source),
        kind=kind,
        rule_ids=referenced,
        timespan=float(rule.timespan.seconds),
        group_by=tuple(rule.group_by or ()),
        aliases=aliases,
        op=condition.op.name.lower(),
        threshold=condition.count,
        field=field,
        generate=rule.generate,
    )


# --- condition tree ----------------------------------------------------------------------------


def compile_condition(node: object) -> Predicate:
    """Compile one node of pySigma's condition tree (after ``SigmaCondition.parse()``)."""
    compiler = _CONDITION_COMPILERS.get(type(node))
    if compiler is None:
        raise UnsupportedRuleError(f"condition node {type(node).__name__}")
    return compiler(node)


def _compile_and(node: ConditionAND) -> Predicate:
    return _all_of([compile_condition(arg) for arg in node.args])


def _compile_or(node: ConditionOR) -> Predicate:
    # Value lists arrive as OR of (field, string) leaves; testing them as one group per field
    # looks the field up once and uses set / tuple tests instead of a closure per value.
    groups: dict[tuple[str, bool], list[SigmaString]] = {}
    networks: dict[str, list[Any]] = {}
    numbers: dict[str, set[int | float]] = {}
    others: list[object] = []
    for arg in node.args:
        if isinstance(arg, ConditionFieldEqualsValueExpression):
            if type(arg.value) is SigmaCIDRExpression:
                # Likewise CIDR lists (dozens of private ranges): the address is parsed once.
                networks.setdefault(arg.field, []).append(arg.value.network)
                continue
            if type(arg.value) is SigmaNumber:
                # And port lists: one number parse, one set test.
                numbers.setdefault(arg.field, set()).add(arg.value.number)
                continue
            strings = _string_values(arg.value)
            if strings is not None:
                values, cased = strings
                groups.setdefault((arg.field, cased), []).extend(values)
                continue
        others.append(arg)
    predicates = [
        _string_field_predicate(field, values, cased=cased)
        for (field, cased), values in groups.items()
    ]
    predicates.extend(
        _field_predicate(field, _network_matcher(tuple(found))) for field, found in networks.items()
    )
    predicates.extend(
        _field_predicate(field, _numbers_matcher(frozenset(wanted)))
        for field, wanted in numbers.items()
    )
    predicates.extend(compile_condition(arg) for arg in others)
    return _any_of(predicates)


def _compile_not(node: ConditionNOT) -> Predicate:
    inner = compile_condition(node.args[0])

    def predicate(event: Event) -> bool:
        return not inner(event)

    return predicate


def _compile_field_equals(node: ConditionFieldEqualsValueExpression) -> Predicate:
    field_compiler = _FIELD_COMPILERS.get(type(node.value))
    if field_compiler is not None:
        return field_compiler(node.field, node.value)
    strings = _string_values(node.value)
    if strings is not None:
        values, cased = strings
        return _string_field_predicate(node.field, values, cased=cased)
    return _field_predicate(node.field, compile_value(node.value))


def _compile_keyword(node: ConditionValueExpression) -> Predicate:
    if type(node.value) in _FIELD_COMPILERS:
        raise UnsupportedRuleError(f"keyword of type {type(node.value).__name__}")
    value = node.value
    if type(value) in (SigmaString, SigmaCasedString):
        # Keywords are a full-text search: a plain word is found anywhere in a value.
        wildcard = SigmaString("*")
        if not value.startswith(SpecialChars.WILDCARD_MULTI):
            value = wildcard + value
        if not value.endswith(SpecialChars.WILDCARD_MULTI):
            value = value + wildcard
    matcher = compile_value(value)

    def predicate(event: Event) -> bool:
        return any(value is not None and matcher(value) for value in event.values())

    return predicate


_CONDITION_COMPILERS: dict[type, Callable[[Any], Predicate]] = {
    ConditionAND: _compile_and,
    ConditionOR: _compile_or,
    ConditionNOT: _compile_not,
    ConditionFieldEqualsValueExpression: _compile_field_equals,
    ConditionValueExpression: _compile_keyword,
}


def _field_predicate(field: str, matcher: ValueMatcher) -> Predicate:
    def predicate(event: Event) -> bool:
        value = event.get(field)
        return value is not None and matcher(value)

    return predicate


def _all_of(predicates: Sequence[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates

        def both(event: Event) -> bool:
            return first(event) and second(event)

        return both
    members = tuple(predicates)

    def every(event: Event) -> bool:
        for predicate in members:  # noqa: SIM110 - all() over a generator is slower
            if not predicate(event):
                return False
        return True

    return every


def _any_of(predicates: Sequence[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates

        def either(event: Event) -> bool:
            return first(event) or second(event)

        return either
    members = tuple(predicates)

    def some(event: Event) -> bool:
        for predicate in members:  # noqa: SIM110 - any() over a generator is slower
            if predicate(event):
                return True
        return False

    return some


# --- values that need the whole event ----------------------------------------------------------


def _compile_null(field: str, _value: SigmaNull) -> Predicate:
    def predicate(event: Event) -> bool:
        return event.get(field) is None

    return predicate


def _compile_exists(field: str, value: SigmaExists) -> Predicate:
    # exists is the complement of null: a field holding None does not exist.
    wanted = value.exists

    def predicate(event: Event) -> bool:
        return (event.get(field) is not None) is wanted

    return predicate


def _compile_field_reference(field: str, value: SigmaFieldReference) -> Predicate:
    other = value.field
    starts, ends = value.starts_with, value.ends_with

    def predicate(event: Event) -> bool:
        left = _text(event.get(field))
        right = _text(event.get(other))
        if left is None or right is None:
            return False
        left, right = left.lower(), right.lower()
        if starts and ends:
            return right in left
        if starts:
            return left.startswith(right)
        if ends:
            return left.endswith(right)
        return left == right

    return predicate


_FIELD_COMPILERS: dict[type, Callable[[str, Any], Predicate]] = {
    SigmaNull: _compile_null,
    SigmaExists: _compile_exists,
    SigmaFieldReference: _compile_field_reference,
}


# --- values ------------------------------------------------------------------------------------


def compile_value(value: object) -> ValueMatcher:
    """Compile a Sigma value into a test of one non-None event value."""
    compiler = _VALUE_COMPILERS.get(type(value))
    if compiler is None:
        raise UnsupportedRuleError(f"value type {type(value).__name__}")
    return compiler(value)


def _text(value: Any) -> str | None:
    """The text a string pattern is matched against, or None for values without one."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        found = _DECIMAL.fullmatch(value)
        if found is None:
            return None
        return int(found.group(1)) if found.group(2) is None else float(found.group(0))
    return None


# Text is a number only as a plain decimal: what sensors write. (Python's int() and float()
# would also take "1_000", "1e3" or other scripts' digits, and then a number's digits would
# not be in the text, which the literal prefilter relies on.)
_ASCII_SPACE = " \t\n\r\f\v"
_DECIMAL = re.compile(r"\s*([+-]?[0-9]+)(\.[0-9]+)?\s*", re.ASCII)


@dataclass(frozen=True)
class StringPattern:
    """How a Sigma string is tested against a value (see `string_pattern`)."""

    kind: Literal["exact", "prefix", "suffix", "contains", "any", "regex"]
    text: str
    """Literal part (lower-cased unless cased); the regex source for kind "regex"."""
    parts: tuple[str | SpecialChars, ...] = ()
    """For kind "regex": the literal pieces and wildcards it is made of, as written."""


def string_pattern(value: SigmaString, *, cased: bool) -> StringPattern:
    """Wildcard-free strings compare for equality; wildcards only at the ends make
    startswith / endswith / substring tests; anything else an anchored regex."""
    parts: list[str | SpecialChars] = []
    for part in value.s:
        if isinstance(part, Placeholder):
            raise UnsupportedRuleError(f"placeholder %{part.name}% (expand modifier)")
        if isinstance(part, str) and parts and isinstance(parts[-1], str):
            parts[-1] += part
        else:
            parts.append(part)

    def fold(text: str) -> str:
        return text if cased else text.lower()

    if not any(isinstance(part, SpecialChars) for part in parts):
        return StringPattern("exact", fold("".join(str(part) for part in parts)))
    leading = parts[0] is SpecialChars.WILDCARD_MULTI
    trailing = len(parts) > 1 and parts[-1] is SpecialChars.WILDCARD_MULTI
    core = parts[int(leading) : len(parts) - int(trailing)]
    if not core and leading and len(parts) <= 2:
        return StringPattern("any", "")
    if len(core) == 1 and isinstance(core[0], str):
        literal = fold(core[0])
        if leading and trailing:
            return StringPattern("contains", literal)
        return StringPattern("suffix" if leading else "prefix", literal)
    source = "".join(
        re.escape(part)
        if isinstance(part, str)
        else (".*" if part is SpecialChars.WILDCARD_MULTI else ".")
        for part in parts
    )
    return StringPattern("regex", source, tuple(parts))


TextTest = Callable[[str], bool]
"""Tests text already folded to lower case (unless cased)."""


def _string_values(value: object) -> tuple[list[SigmaString], bool] | None:
    """The strings a value stands for and whether they are cased; None if not string-like."""
    if type(value) is SigmaString:
        return _expanded([value]), False
    if type(value) is SigmaCasedString:
        return _expanded([value]), True
    if type(value) is SigmaExpansion and all(type(item) is SigmaString for item in value.values):
        return _expanded([item for item in value.values if isinstance(item, SigmaString)]), False
    return None


def _expanded(values: list[SigmaString]) -> list[SigmaString]:
    if not any(value.contains_placeholder() for value in values):
        return values
    known = _placeholders.get()

    def replacement(placeholder: Placeholder) -> Iterator[str]:
        yield from known.get(placeholder.name) or [f"%{placeholder.name}%"]

    # Cased-ness travels beside the strings (see _string_values), so plain results do.
    return [item for value in values for item in value.replace_placeholders(replacement)]


def _string_field_predicate(field: str, values: Sequence[SigmaString], *, cased: bool) -> Predicate:
    # Field lookup, text conversion and test in one closure: this is the hottest path.
    test = _text_test(values, cased=cased)

    def predicate(event: Event) -> bool:
        value = event.get(field)
        if type(value) is not str:
            value = _text(value)
            if value is None:
                return False
        return test(value if cased else value.lower())

    return predicate


def _string_value_matcher(values: Sequence[SigmaString], *, cased: bool) -> ValueMatcher:
    test = _text_test(values, cased=cased)

    def matcher(value: Any) -> bool:
        text = _text(value)
        return text is not None and test(text if cased else text.lower())

    return matcher


def _text_test(values: Sequence[SigmaString], *, cased: bool) -> TextTest:
    """One test for any of several strings."""
    patterns = [string_pattern(value, cased=cased) for value in values]
    if len(patterns) == 1:
        return _single_text_test(patterns[0], cased=cased)

    kinds: dict[str, list[str]] = {}
    for pattern in patterns:
        kinds.setdefault(pattern.kind, []).append(pattern.text)
    if "any" in kinds:
        return _single_text_test(StringPattern("any", ""), cased=cased)
    exact = frozenset(kinds.get("exact", ()))
    prefixes = tuple(kinds.get("prefix", ()))
    suffixes = tuple(kinds.get("suffix", ()))
    infixes = tuple(kinds.get("contains", ()))
    infix_test = _infix_test(infixes)
    regexes = tuple(_string_regex(source, cased=cased) for source in kinds.get("regex", ()))

    def test(text: str) -> bool:
        return (
            text in exact
            or text.startswith(prefixes)
            or text.endswith(suffixes)
            or infix_test(text)
            or any(regex.fullmatch(text) is not None for regex in regexes)
        )

    return test


def _infix_test(infixes: tuple[str, ...]) -> TextTest:
    """Does the text contain any of the substrings?"""
    if len(infixes) < _INFIX_REGEX_THRESHOLD:
        return lambda text: any(infix in text for infix in infixes)
    # Long lists (hundreds of cmdlet names or emoji in SigmaHQ rules) would cost a Python
    # loop per event. Most texts contain none of their first characters, which a set test
    # rules out in C; otherwise one trie-shaped regex scans the text once.
    first_chars = frozenset(infix[0] for infix in infixes)
    # Built on first use: compiling hundreds of these costs seconds at load, and the
    # prefilter means most are never needed.
    regex: re.Pattern[str] | None = None

    def test(text: str) -> bool:
        nonlocal regex
        if first_chars.isdisjoint(text):
            return False
        if regex is None:
            regex = re.compile(_alternation(infixes))
        return regex.search(text) is not None

    return test


def _alternation(words: Sequence[str]) -> str:
    """Regex source matching any of the words, shaped as a trie so that the engine follows
    one branch per character instead of trying every word at every position."""
    if max(len(word) for word in words) > _TRIE_MAX_WORD:
        return "|".join(re.escape(word) for word in words)
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here
    return _trie_source(trie)


def _trie_source(node: dict[str, Any]) -> str:
    branches = [re.escape(char) + _trie_source(child) for char, child in node.items() if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


def _string_regex(source: str, *, cased: bool) -> re.Pattern[str]:
    return re.compile(source, re.DOTALL if cased else re.DOTALL | re.IGNORECASE)


def _single_text_test(pattern: StringPattern, *, cased: bool) -> TextTest:
    literal = pattern.text
    if pattern.kind == "any":
        return lambda text: True
    if pattern.kind == "regex":
        regex = _string_regex(literal, cased=cased)
        return lambda text: regex.fullmatch(text) is not None
    if pattern.kind == "exact":
        return lambda text: text == literal
    if pattern.kind == "prefix":
        return lambda text: text.startswith(literal)
    if pattern.kind == "suffix":
        return lambda text: text.endswith(literal)
    return lambda text: literal in text


def _compile_string(value: SigmaString) -> ValueMatcher:
    return _string_value_matcher([value], cased=False)


def _compile_cased_string(value: SigmaCasedString) -> ValueMatcher:
    return _string_value_matcher([value], cased=True)


def _compile_number(value: SigmaNumber) -> ValueMatcher:
    wanted = value.number
    wanted_text = str(wanted)

    def matcher(candidate: Any) -> bool:
        if isinstance(candidate, str) and candidate.strip(_ASCII_SPACE) == wanted_text:
            return True
        number = _number(candidate)
        return number is not None and number == wanted

    return matcher


def _numbers_matcher(wanted: frozenset[int | float]) -> ValueMatcher:
    """Any of several numbers: the same test as `_compile_number` for each, in one lookup."""

    def matcher(candidate: Any) -> bool:
        number = _number(candidate)
        return number is not None and number in wanted

    return matcher


def _compile_bool(value: SigmaBool) -> ValueMatcher:
    wanted = value.boolean
    wanted_text = "true" if wanted else "false"

    def matcher(candidate: Any) -> bool:
        if isinstance(candidate, bool):
            return candidate is wanted
        return isinstance(candidate, str) and candidate.strip().lower() == wanted_text

    return matcher


def _compile_regex(value: SigmaRegularExpression) -> ValueMatcher:
    if value.regexp.contains_placeholder():
        raise UnsupportedRuleError("placeholder in regular expression (expand modifier)")
    flags = 0
    for flag in value.flags:
        flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
    try:
        regex = re.compile(str(value.regexp), flags)
    except re.error as error:
        # pySigma validated with its policy's engine; Python's may still disagree.
        raise UnsupportedRuleError(f"regular expression {value.regexp!s}: {error}") from error

    def matcher(candidate: Any) -> bool:
        text = _text(candidate)
        return text is not None and regex.search(text) is not None

    return matcher


def _compile_cidr(value: SigmaCIDRExpression) -> ValueMatcher:
    return _network_matcher((value.network,))


@lru_cache(maxsize=65536)
def _address(text: str) -> IPv4Address | IPv6Address | None:
    """Events repeat the same few addresses; parsing each once saves most of a CIDR test."""
    try:
        return ip_address(text.strip())
    except ValueError:
        return None


def _network_matcher(networks: tuple[Any, ...]) -> ValueMatcher:
    # Rules list up to a hundred ranges: as sorted, merged integer intervals per IP version
    # an address needs one bisection instead of a containment test per network.
    intervals: dict[int, tuple[list[int], list[int]]] = {}
    for version in (4, 6):
        spans = sorted(
            (int(network.network_address), int(network.broadcast_address))
            for network in networks
            if network.version == version
        )
        merged: list[list[int]] = []
        for low, high in spans:
            if merged and low <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        intervals[version] = ([low for low, _ in merged], [high for _, high in merged])

    def matcher(candidate: Any) -> bool:
        if not isinstance(candidate, str):
            return False
        address = _address(candidate)
        if address is None:
            return False
        # Mixed-version tests are False, not errors.
        lows, highs = intervals[address.version]
        value = int(address)
        at = bisect_right(lows, value) - 1
        return at >= 0 and value <= highs[at]

    return matcher


_COMPARISONS: dict[CompareOperators, Callable[[float, float], bool]] = {
    CompareOperators.LT: lambda left, right: left < right,
    CompareOperators.LTE: lambda left, right: left <= right,
    CompareOperators.GT: lambda left, right: left > right,
    CompareOperators.GTE: lambda left, right: left >= right,
    CompareOperators.NEQ: lambda left, right: left != right,
}


def _compile_compare(value: SigmaCompareExpression) -> ValueMatcher:
    compare = _COMPARISONS.get(value.op)
    if compare is None:
        raise UnsupportedRuleError(f"comparison operator {value.op.name}")
    bound = value.number.number

    def matcher(candidate: Any) -> bool:
        number = _number(candidate)
        return number is not None and compare(number, bound)

    return matcher


def _compile_expansion(value: SigmaExpansion) -> ValueMatcher:
    # Modifiers such as windash and base64offset expand one value into OR-ed variants.
    strings = _string_values(value)
    if strings is not None:
        return _string_value_matcher(strings[0], cased=False)
    matchers = [compile_value(item) for item in value.values]
    return lambda candidate: any(matcher(candidate) for matcher in matchers)


_TIME_PARTS: dict[TimestampPart, Callable[[datetime], int]] = {
    TimestampPart.MINUTE: lambda moment: moment.minute,
    TimestampPart.HOUR: lambda moment: moment.hour,
    TimestampPart.DAY: lambda moment: moment.day,
    TimestampPart.WEEK: lambda moment: moment.isocalendar().week,
    TimestampPart.MONTH: lambda moment: moment.month,
    TimestampPart.YEAR: lambda moment: moment.year,
}


def _compile_time_part(value: SigmaTimestampPart) -> ValueMatcher:
    part = _TIME_PARTS[value.timestamp_part]
    wanted = value.number

    def matcher(candidate: Any) -> bool:
        if not isinstance(candidate, str):
            return False
        try:
            moment = datetime.fromisoformat(candidate.strip().replace("Z", "+00:00"))
        except ValueError:
            return False
        return part(moment) == wanted

    return matcher


_VALUE_COMPILERS: dict[type, Callable[[Any], ValueMatcher]] = {
    SigmaTimestampPart: _compile_time_part,
    SigmaString: _compile_string,
    SigmaCasedString: _compile_cased_string,
    SigmaNumber: _compile_number,
    SigmaBool: _compile_bool,
    SigmaRegularExpression: _compile_regex,
    SigmaCIDRExpression: _compile_cidr,
    SigmaCompareExpression: _compile_compare,
    SigmaExpansion: _compile_expansion,
}
