r"""What a raw record proves about a rule's condition, so that rules it rules out need no
decoding and no evaluation.

SigmaHQ rules pair a broad selection with filters: "a system DLL name loaded from anywhere
*but* ``C:\Windows\System32\``". The scan (`scanplan`) can only tell that the selection may
hold (one of its literals is somewhere in the record), so every image load of such a DLL used
to be decoded and matched in Python, to learn that the filter ruled it out, or that the
literal sat in another field. An *exclusion* is what can be checked exactly on the raw record
and implies that the rule cannot match: a selection's field that fails every value, or a
filter that holds.

An exclusion is a disjunction of conjunctions of *tests*. A test compares one field, case-
insensitively, with plain literals (``exact``, ``prefix``, ``suffix``, ``contains``): exactly
what `compile` does for such a leaf (it lower-cases the value; records with characters that
lower-case to ASCII are not judged raw at all, `scanplan.UNFIT`). Literals are ASCII, but for
negated tests: an ASCII value never holds a non-ASCII literal, any other value may. A test holds
when the field's value is a string passing one of its comparisons; a *negated* test when the
field is absent or its value is a string passing none (a leaf that then fails). A field is
named by the names its value may have in the record, in the order `logsource.with_aliases`
prefers them (``Image``, then ``NewProcessName`` in Security 4688). Only fields flattening
takes from ``EventData`` as they are qualify: not ``System`` fields, attributes, renamed or
rewritten ones.

Built as proofs: ``_prove(node)`` is a formula that implies the node holds, ``_refute(node)``
one that implies it fails (``not`` swaps them, ``and`` / ``or`` combine them as logic says,
anything else proves nothing). A rule's exclusion is the refutation of its condition. Pure;
the native scanner (``_rawscan.c``) evaluates exclusions on each candidate, where it is built
(the Python scan does not: it is the slower fallback, and its candidates a superset).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Mapping, Sequence
from itertools import product
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
)
from sigma.types import SigmaExpansion, SigmaString

from stockade.detection.compile import string_pattern
from stockade.detection.scanplan import (
    ATTRIBUTE_NAMES,
    KNOWN_FIELDS,
    RAW_SOURCES,
    REWRITTEN_FIELDS,
    foldable,
    join,
)
from stockade.telemetry.eventlog import SYSTEM_FIELDS

__all__ = ["KINDS", "Exclusion", "Test", "encode", "exclusion", "refutation", "specialise"]

Test = tuple[tuple[str, ...], bool, tuple[tuple[str, str], ...]]
"""(names of the field in the record, most preferred first; negated; (kind, lower-cased
literal) pairs). A test holds when the field's value passes one of the comparisons; a negated
one when the field is absent, or its value passes none of them."""
Exclusion = tuple[tuple[Test, ...], ...]
"""Alternatives, each a conjunction of tests: the rule cannot match where one holds."""

KINDS = ("exact", "prefix", "suffix", "contains")
"""Comparison kinds, numbered as the native scanner reads them."""

MAX_ALTERNATIVES = 64
MAX_TESTS = 8
"""Bounds on one exclusion (dropping an alternative only weakens it: each implies it)."""

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_]+")
_NOT_EVENT_DATA = frozenset(
    {
        *SYSTEM_FIELDS,  # flattening takes them from System, last
        *ATTRIBUTE_NAMES,  # System attributes, dropped or renamed
        *RAW_SOURCES,  # fields taken from a name of another name
        *REWRITTEN_FIELDS,  # values `logsource.with_aliases` rewrites
        *KNOWN_FIELDS,
        "Opcode",
    }
)

Formula = Any
"""True, False, ("test", Test), ("known", predicate, negated) or ("and" | "or", members)."""


def exclusion(
    trees: tuple[object, ...],
    known: Callable[[object], Callable[[Any], bool]],
    probe: Mapping[str, Any],
    keys: Mapping[str, tuple[str, ...]],
) -> Exclusion:
    """The exclusion of a rule with these condition trees (alternatives), for records of the
    bucket ``probe`` describes; ``known`` compiles EventID / Channel leaves (decided by the
    bucket), ``keys`` names fields held under other names (`scanplan.raw_keys`). Empty: no
    exclusion."""
    return specialise(refutation(trees, known, keys), probe)


def refutation(
    trees: tuple[object, ...],
    known: Callable[[object], Callable[[Any], bool]],
    keys: Mapping[str, tuple[str, ...]],
) -> Formula:
    """The part of `exclusion` that does not depend on the bucket (EventID / Channel leaves
    left to `specialise`): buckets with the same ``keys`` share it."""
    return _and([_refute(tree, known, keys) for tree in trees])


def specialise(formula: Formula, probe: Mapping[str, Any]) -> Exclusion:
    """The exclusion a `refutation` gives for records like ``probe``."""
    return _alternatives(_decided(formula, probe))


def _decided(formula: Formula, probe: Mapping[str, Any]) -> Formula:
    if formula is True or formula is False:
        return formula
    tag = formula[0]
    if tag == "test":
        return formula
    if tag == "known":
        try:
            holds = bool(formula[1](probe))
        except Exception:  # a test the bucket cannot decide: no proof either way
            return False
        return holds != formula[2]
    members = [_decided(member, probe) for member in formula[1]]
    return _and(members) if tag == "and" else _or(members)


def _prove(node: object, known: Any, keys: Any) -> Formula:
    if isinstance(node, ConditionNOT):
        return _refute(node.args[0], known, keys)
    if isinstance(node, ConditionAND):
        return _and([_prove(arg, known, keys) for arg in node.args])
    if isinstance(node, ConditionOR):
        return _or([_prove(arg, known, keys) for arg in node.args])
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _leaf(node, known, keys, negated=False)
    return False


def _refute(node: object, known: Any, keys: Any) -> Formula:
    if isinstance(node, ConditionNOT):
        return _prove(node.args[0], known, keys)
    if isinstance(node, ConditionAND):
        return _or([_refute(arg, known, keys) for arg in node.args])
    if isinstance(node, ConditionOR):
        return _and([_refute(arg, known, keys) for arg in node.args])
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _leaf(node, known, keys, negated=True)
    return False


def _leaf(
    node: ConditionFieldEqualsValueExpression,
    known: Callable[[object], Callable[[Any], bool]],
    keys: Mapping[str, tuple[str, ...]],
    negated: bool,
) -> Formula:
    """A formula implying the leaf holds (or, ``negated``, fails)."""
    if node.field in KNOWN_FIELDS:
        if not foldable(node.field, node.value):
            return False
        try:
            return ("known", known(node), negated)
        except Exception:  # a test the bucket cannot decide: no proof either way
            return False
    value = node.value
    values = value.values if type(value) is SigmaExpansion else [value]
    names = keys.get(node.field, (node.field,))
    if any(name in _NOT_EVENT_DATA or _PLAIN_NAME.fullmatch(name) is None for name in names):
        return False
    comparisons = []
    for item in values:
        if type(item) is not SigmaString or item.contains_placeholder():
            return False  # cased strings, regexes, numbers, null, CIDR, field references, ...
        pattern = string_pattern(item, cased=False)
        # Non-ASCII literals only where failing is to be shown: an ASCII value never holds them.
        if pattern.kind not in KINDS or not (negated or pattern.text.isascii()):
            return False
        comparisons.append((pattern.kind, pattern.text))
    return ("test", (names, negated, tuple(dict.fromkeys(comparisons))))


def _join(tag: str, members: list[Formula]) -> Formula:
    """``and`` / ``or`` of formulas as `scanplan.join` makes them; tests of one field that the
    join can merge become one (any of the comparisons, or none of them)."""
    joined = join(tag, members)
    if type(joined) is not tuple or joined[0] != tag:
        return joined
    merged: dict[tuple[tuple[str, ...], bool], int] = {}
    kept: list[Formula] = []
    for member in joined[1]:
        # `or` of tests: one passes; `and` of negated tests: none passes.
        if member[0] == "test" and member[1][1] == (tag == "and"):
            names, negated, comparisons = member[1]
            at = merged.get((names, negated))
            if at is not None:
                before = kept[at][1][2]
                kept[at] = ("test", (names, negated, tuple(dict.fromkeys(before + comparisons))))
                continue
            merged[(names, negated)] = len(kept)
        kept.append(member)
    return kept[0] if len(kept) == 1 else (tag, tuple(kept))


def _and(members: list[Formula]) -> Formula:
    return _join("and", members)


def _or(members: list[Formula]) -> Formula:
    return _join("or", members)


def _alternatives(formula: Formula) -> Exclusion:
    """The formula in disjunctive form, shortest alternatives first, within the bounds."""
    if formula is True:
        # The rule can never match in this bucket: one alternative with no test holds always.
        return ((),)
    found = _dnf(formula)
    found = sorted(
        {alternative for alternative in found if len(alternative) <= MAX_TESTS}, key=_size
    )
    return tuple(found[:MAX_ALTERNATIVES])


def _size(alternative: tuple[Test, ...]) -> tuple[int, tuple[Test, ...]]:
    return len(alternative), alternative


def _dnf(formula: Formula) -> list[tuple[Test, ...]]:
    if formula is False:
        return []
    tag = formula[0]
    if tag == "test":
        return [(formula[1],)]
    members = [_dnf(member) for member in formula[1]]
    if tag == "or":
        return [alternative for member in members for alternative in member]
    result: list[tuple[Test, ...]] = [()]
    for member in members:
        if not member:
            return []
        # Keep the smallest alternatives of each member when the product would grow too big.
        member = sorted(member, key=_size)[:MAX_ALTERNATIVES]
        result = [
            tuple(dict.fromkeys((*left, *right)))
            for left, right in product(result, member)
            if len(left) + len(right) <= MAX_TESTS
        ]
        result = sorted(result, key=_size)[:MAX_ALTERNATIVES]
        if not result:
            return []
    return result


def encode(exclusions: Sequence[tuple[int, Exclusion]]) -> tuple[bytes, bytes]:
    """Rules' exclusions as the native scanner reads them: (u32s, pool of names and literals);
    see ``read_exclusions`` in ``_rawscan.c``."""
    pool = bytearray()
    offsets: dict[str, tuple[int, int]] = {}

    def pooled(text: str) -> tuple[int, int]:
        found = offsets.get(text)
        if found is None:
            data = text.encode()
            found = offsets[text] = (len(pool), len(data))
            pool.extend(data)
        return found

    rules: list[int] = []
    alternatives: list[int] = []
    tests: list[int] = []
    comparisons: list[int] = []
    names: list[int] = []
    for rule, exclusion in exclusions:
        rules += (rule, len(alternatives) // 2, len(alternatives) // 2 + len(exclusion))
        for alternative in exclusion:
            alternatives += (len(tests) // 5, len(tests) // 5 + len(alternative))
            for field_names, negated, pairs in alternative:
                first_name, first_comparison = len(names) // 2, len(comparisons) // 3
                for name in field_names:
                    names.extend(pooled(name))
                for kind, literal in pairs:
                    comparisons += (KINDS.index(kind), *pooled(literal))
                tests += (
                    int(negated),
                    first_name,
                    len(names) // 2,
                    first_comparison,
                    len(comparisons) // 3,
                )
    header = [
        len(rules) // 3,
        len(alternatives) // 2,
        len(tests) // 5,
        len(comparisons) // 3,
        len(names) // 2,
    ]
    data = header + rules + alternatives + tests + comparisons + names
    return array("I", data).tobytes(), bytes(pool)
