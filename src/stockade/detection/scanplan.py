r"""Which rules could match the event a raw EVTX record holds, before it is decoded.

A hunt reads EVTX records as the parser renders them, compact JSON. Decoding and flattening a
record and then proving for each rule of its bucket that it does not match costs more than
finding, with one Hyperscan scan of the JSON text, which literals of the bucket's rules occur in
it; most records then need no decoding at all, and the rest need only the rules the scan named.

Each rule's condition is approximated from above: whenever the rule matches, the approximation
holds (it may hold when the rule does not; the rule's predicate then says no). A leaf's
approximation is an *atom*: a lower-cased literal and where in a value it sits.

- A string without wildcards is ``exact``; one literal between ``*`` is ``contains``,
  ``prefix`` or ``suffix``. These are compared lower-cased by `compile`, so the literal may
  hold any character (a cased string only ASCII: lower-casing keeps a cased match only there).
- A string with wildcards inside is matched by a case-insensitive regex: its leading part is
  a ``prefix``, its trailing part a ``suffix`` and each part between ``contains``, for parts
  of ASCII only (the regex equates more than lower-casing does).
- A regular expression needs its longest top-level literal (`prefilter.regex_literal`)
  anywhere, when that is ASCII; a keyword its literal parts anywhere.
- A number needs its digits (`compile` reads numbers from text as plain decimals with ASCII
  white space around, so the digits of a match are always there, after a quote, a space, a
  sign, a zero or an escape).
- ``null`` (and ``exists: false``) needs the field's name absent, or present with ``null``
  or an object (which flattens to nothing).
- Anything else (CIDR, comparisons, placeholders, field references, ...) and anything
  under ``not`` needs nothing (true); ``and`` / ``or`` combine their members.

Atoms become literals as JSON writes them (`clauses`): a string value is ``":"<value>"``, so an
``exact`` atom on a field is ``"<name>":"<literal>"``, a ``prefix`` ``"<name>":"<literal>``, a
``suffix`` ``<literal>"``, with the literal escaped as JSON escapes it; a number on a field is
every way a value reading as it can start (``"<name>":4444``, ``"<name>":"4444``,
``"<name>":" `` ...). A field's value may sit under other names in the record
(`raw_keys`). Names are matched case-sensitively only for ``null``; everything else is found
regardless of case, which can only add candidates.

A record is not judged raw when its JSON would mislead the literals (`RAW_GUARD`, `raw_bucket`,
`raw_text`): a name with a space, a list of values, a value with attributes, a character that
lower-cases to ASCII or that Python's case-insensitive regexes equate with ``i`` or ``s``.

``EventID`` and ``Channel`` leaves are known per bucket (the engine has one scan per
(EventID, channel) pair) and fold into constants (`specialise`). A rule's approximation is then
put in conjunctive form: each clause is a set of literals of which one must occur. The engine
indexes each rule under one clause and checks the others before running the predicate; a rule
without clauses is evaluated on every record of its bucket. Pure: `prefilter.RuleScanner`
runs the scan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    SigmaCasedString,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
)

from stockade.detection.compile import string_pattern
from stockade.detection.logsource import INTEGRITY_LEVELS
from stockade.detection.prefilter import (
    ABSENT,
    COMMON_LITERALS,
    IN_VALUE,
    RARE_CHARACTERS,
    regex_literal,
)
from stockade.detection.prefilter import MIN_LITERAL as _MIN_LITERAL

__all__ = [
    "ATTRIBUTE_NAMES",
    "KNOWN_FIELDS",
    "RAW_GUARD",
    "RAW_SOURCES",
    "REWRITTEN_FIELDS",
    "UNFIT",
    "Clauses",
    "Formula",
    "case_variants",
    "clauses",
    "foldable",
    "join",
    "raw_bucket",
    "raw_keys",
    "raw_text",
    "specialise",
    "translate",
]

Formula = Any
"""True, False, ("atom", kind, lower-cased literal, field or None), ("known", predicate) or
("and" | "or", members)."""
Clauses = tuple[frozenset[str], ...]
"""Conjunctive form over rendered literals: one literal of every clause must occur."""

KNOWN_FIELDS = ("EventID", "Channel")
REWRITTEN_FIELDS = frozenset({"IntegrityLevel"})
"""Fields whose value `logsource.with_aliases` may rewrite: not in a raw record as matched."""

_MAX_CLAUSES = 8  # distributing an `or` over `and`s beyond this keeps one clause per member
_IGNORECASE_LOOKALIKES = ("\u0131", "\u017f")
"""Dotless i and long s: Python's case-insensitive regexes take them for i and s."""


# --- texts ---------------------------------------------------------------------------------------


_RAW_EVENT_ID = '"EventID":'
_RAW_CHANNEL = '"Channel":"'


def raw_bucket(raw: str) -> tuple[int, str] | None:
    """(EventID, Channel) of a raw EVTX record (the parser's compact JSON), or None if it
    has no plain ones. (Whether the rest is plain enough to be judged raw, `RAW_GUARD`
    tells in the scan itself.)"""
    start = raw.find(_RAW_EVENT_ID)
    channel = raw.find(_RAW_CHANNEL, start)
    if start < 0 or channel < 0:
        return None
    start += len(_RAW_EVENT_ID)
    end = raw.find(",", start)
    if raw[start] == '"':
        start += 1
        end -= 1
    channel += len(_RAW_CHANNEL)
    digits = raw[start:end]
    name = raw[channel : raw.find('"', channel)]
    if not digits.isdigit() or not digits.isascii() or len(digits) > 18 or "\\" in name:
        return None
    return int(digits), name


RAW_GUARD = rb' [^"]*":|"#text"|":\[|":-?[0-9]+[.eE]'
"""What makes a raw record unfit to be judged raw: a name with a space (flattening also gives
it without the space, a name no literal is anchored on; values cannot end in ``":``, so only
names match), values with attributes (``#text``) or several values (``[``), which change
when flattened, and fractional numbers (JSON and Python may write the same one differently)."""


UNFIT = ("\u0130", "\u212a", *_IGNORECASE_LOOKALIKES)
"""Capital I with dot and the Kelvin sign lower-case to ASCII (the first to two characters);
the lookalikes match ``i``/``s`` in case-insensitive regexes. A raw record holding one is
matched in full."""


def raw_text(raw: str) -> bytes | None:
    """The raw record as the scan reads it, never lower-cased: the scan folds ASCII case, and
    a non-ASCII literal stands for each of its case variants (`case_variants`). None when the
    record has a character for which that would not be exact enough (`UNFIT`)."""
    if raw.isascii():
        return raw.encode("ascii")
    if any(char in raw for char in UNFIT):
        return None
    return raw.encode("utf-8", "surrogatepass")


_MAX_VARIANTS = 64


def case_variants(literal: str) -> frozenset[str] | None:
    """Every string whose lower case is the (lower-cased) literal, character by character,
    with ASCII left to the scan; None when there are too many to list. Python lower-cases
    character by character except capital sigma (final form at the end of a word), which is
    listed under both forms, and the characters `raw_text` turns away."""
    variants = [""]
    for char in literal:
        options = (char,) if char.isascii() else _uppers().get(char, (char,))
        variants = [prefix + option for prefix in variants for option in options]
        if len(variants) > _MAX_VARIANTS:
            return None
    return frozenset(variants)


@lru_cache(maxsize=1)
def _uppers() -> dict[str, tuple[str, ...]]:
    """Lower-case character -> every character that lower-cases to it (itself first)."""
    found: dict[str, list[str]] = {}
    for code in range(0x80, 0x110000):
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        lower = char.lower()
        if len(lower) == 1 and lower != char:
            found.setdefault(lower, [lower]).append(char)
    found.setdefault("\u03c2", ["\u03c2"]).append("\u03a3")  # final sigma, from capital sigma
    return {lower: tuple(chars) for lower, chars in found.items()}


# --- formulas ------------------------------------------------------------------------------------


def join(tag: str, members: list[Formula]) -> Formula:
    """``and`` / ``or`` of formulas: nested ones of the same kind flattened, constants folded
    (true absorbs an ``or`` and vanishes from an ``and``; false the other way), repeats
    dropped."""
    absorbing = tag == "or"
    flat: dict[Formula, None] = {}  # ordered, and a repeat found by hash (lists run long)
    for member in members:
        if member is absorbing:
            return absorbing
        if member is (not absorbing):
            continue
        if type(member) is tuple and member[0] == tag:
            flat.update(dict.fromkeys(member[1]))
        else:
            flat[member] = None
    if not flat:
        return not absorbing
    found = tuple(flat)
    return found[0] if len(found) == 1 else (tag, found)


def _and(members: list[Formula]) -> Formula:
    return join("and", members)


def _or(members: list[Formula]) -> Formula:
    return join("or", members)


# --- translation ---------------------------------------------------------------------------------


def translate(
    trees: tuple[object, ...], known: Callable[[object], Callable[[Any], bool]]
) -> Formula:
    """A rule's conditions (alternatives) approximated over atoms.

    ``known`` compiles a leaf on a `KNOWN_FIELDS` field into a Python predicate, which
    `specialise` later applies to each bucket's (EventID, Channel).
    """
    return _or([_node(tree, known) for tree in trees])


def _node(node: object, known: Callable[[object], Callable[[Any], bool]]) -> Formula:
    if isinstance(node, ConditionAND):
        return _and([_node(arg, known) for arg in node.args])
    if isinstance(node, ConditionOR):
        return _or([_node(arg, known) for arg in node.args])
    if isinstance(node, ConditionNOT):
        return True
    if isinstance(node, ConditionFieldEqualsValueExpression):
        if node.field in KNOWN_FIELDS and foldable(node.field, node.value):
            return ("known", known(node))
        return _field(node.field, node.value)
    if isinstance(node, ConditionValueExpression):
        value = node.value
        if type(value) not in (SigmaString, SigmaCasedString) or value.contains_placeholder():
            return True
        return _string(value, None)  # `compile` wraps keywords in wildcards: contains
    return True


def foldable(field: str, value: object) -> bool:
    """Can the leaf be decided from the bucket's key alone? The bucket knows the EventID as
    an int and the channel only lower-cased, so cased and regex tests on Channel cannot."""
    if isinstance(value, SigmaString) and value.contains_placeholder():
        return False
    if field == "EventID":
        return type(value) is not SigmaFieldReference  # the other field is not in the bucket key
    if type(value) is SigmaExpansion:
        return all(foldable(field, item) for item in value.values)
    return type(value) is SigmaString


def _field(field: str, value: object) -> Formula:
    if field in REWRITTEN_FIELDS:
        return True
    kind = type(value)
    if kind is SigmaExpansion:
        return _or([_field(field, item) for item in value.values])  # type: ignore[attr-defined]
    if kind is SigmaString or kind is SigmaCasedString:
        string: SigmaString = value  # type: ignore[assignment]
        return True if string.contains_placeholder() else _string(string, field)
    if kind is SigmaRegularExpression:
        literal = regex_literal(value)  # type: ignore[arg-type]
        if literal is None or not literal.isascii():
            return True
        return _atom("contains", literal, field)
    if kind is SigmaNumber:
        number = value.number  # type: ignore[attr-defined]
        if isinstance(number, float) and number.is_integer():
            number = int(number)
        digits = str(abs(number))
        return True if "e" in digits else ("atom", "number", digits, field)
    if kind is SigmaNull or (kind is SigmaExists and not value.exists):  # type: ignore[attr-defined]
        return ("atom", "absent", "", field)
    return True  # booleans, CIDR, comparisons, time parts, exists, field references


def _string(value: SigmaString, field: str | None) -> Formula:
    """What a string test needs, by the test `compile` makes of it (`string_pattern`); for a
    keyword (``field`` None), as `compile` wraps it in wildcards: a substring test."""
    lowered = type(value) is not SigmaCasedString
    pattern = string_pattern(value, cased=False)
    if field is None and pattern.kind in ("exact", "prefix", "suffix"):
        return _atom("contains", pattern.text, None, lowered=lowered)
    if pattern.kind == "any":
        return True
    if pattern.kind != "regex":
        # Equality, contains, startswith, endswith: `compile` compares lower-cased values.
        return _atom(pattern.kind, pattern.text, field, lowered=lowered)
    # A case-insensitive regex: each piece, anchored where it stands (a keyword's are inside).
    needs: list[Formula] = []
    last = len(pattern.parts) - 1
    for position, part in enumerate(pattern.parts):
        if isinstance(part, str):
            at_start, at_end = (
                field is not None and position == 0,
                field is not None and position == last,
            )
            kind = "prefix" if at_start else "suffix" if at_end else "contains"
            needs.append(_atom(kind, part, field))
    return _and(needs)


def _atom(kind: str, literal: str, field: str | None, lowered: bool = False) -> Formula:
    """An atom, or true when the literal cannot serve; ``lowered``: the value is compared
    lower-cased (else by a case-insensitive regex or as written, which only ASCII literals
    approximate safely)."""
    if not literal.isascii():
        return ("atom", kind, literal.lower(), field) if lowered else True
    if len(literal) < _MIN_LITERAL and kind == "contains" and literal not in RARE_CHARACTERS:
        return True
    return ("atom", kind, literal.lower(), field)


# --- per bucket ----------------------------------------------------------------------------------


def specialise(formula: Formula, probe: Mapping[str, Any]) -> Formula:
    """The formula with its known leaves decided for events like ``probe``."""
    if formula is True or formula is False:
        return formula
    tag = formula[0]
    if tag == "atom":
        return formula
    if tag == "known":
        return bool(formula[1](probe))
    members = [specialise(member, probe) for member in formula[1]]
    return _and(members) if tag == "and" else _or(members)


def clauses(
    formula: Formula,
    rank: Callable[[frozenset[str]], Any],
    keys: Mapping[str, tuple[str, ...]] | None = None,
    *,
    in_value: bool = True,
) -> Clauses:
    """The formula (no known leaves left) in conjunctive form over literals as a raw record
    holds them, most selective clause first by ``rank`` (smaller is better); weakened where
    distributing would grow too large.

    ``keys`` names, for fields whose value a raw record holds under other names than the
    field's own, those names (`raw_keys`). ``in_value``: seek common literals inside their
    field's value (a pattern that walks the JSON string); without it they are plain literals,
    for a scan that reads the fields itself (`exclusion`), where those patterns cost more
    than they save."""

    def render(kind: str, literal: str, field: str | None) -> frozenset[str] | None:
        names = None if field is None else (keys or {}).get(field, (field,))
        return _raw_literals(kind, literal, names, in_value)

    found = _clauses(formula, render, rank)
    return tuple(sorted(set(found), key=rank))


RAW_SOURCES = {
    "Provider_Name": "Name",
    "Provider_Guid": "Guid",
    "TimeCreated": "SystemTime",
    "Data": "EventData",  # an EventData of text only
}
"""Fields that flattening takes from a name of another name."""

ATTRIBUTE_NAMES = frozenset(
    {
        "Name",
        "Guid",
        "EventSourceName",
        "Qualifiers",
        "SystemTime",
        "ProcessID",
        "ThreadID",
        "ActivityID",
        "RelatedActivityID",
        "xmlns",
    }
)
"""Names of System attributes: in every raw record, though flattening drops them (or renames
them), so a name there says nothing about a field of the same name."""


def raw_keys(aliases: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """For `clauses`: the names a field's value has in a raw record, given the bucket's
    `logsource.FIELD_ALIASES` (Sysmon name -> own name)."""
    keys = {field: (field, source) for field, source in RAW_SOURCES.items()}
    for field, own in aliases.items():
        keys[field] = (*keys.get(field, (field,)), own)
    return keys


def _anywhere(literal: str) -> frozenset[str] | None:
    if literal.isascii() and len(literal) < _MIN_LITERAL and literal not in RARE_CHARACTERS:
        return None  # a short piece of a value: in nearly every record
    return frozenset((literal,))


_JSON_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false")
_NUMBER_CHARACTERS = frozenset("0123456789+-.e")
_REWRITTEN_VALUES = tuple({label.lower() for label in INTEGRITY_LEVELS.values()})
"""Integrity levels as `logsource.with_aliases` writes them for Security 4688 (lower case)."""
_NUMBER_STARTS = ("+", "-", "0", " ", "\\")
"""How a string that reads as a number may start other than with its digits (`compile`
reads " +007" as 7); escaped whitespace starts with a backslash."""


def _raw_literals(
    kind: str, literal: str, names: tuple[str, ...] | None, in_value: bool = True
) -> frozenset[str] | None:
    """An atom as the literals (any of them) a raw record holds when the atom holds."""
    keys = None if names is None else ['"' + _json_escape(name) + '":' for name in names]
    if kind == "absent":
        if names is None or not ATTRIBUTE_NAMES.isdisjoint(names):
            return None  # the name may be an attribute's, which flattening drops
        return frozenset((ABSENT + ABSENT.join(names),))
    if kind == "number":
        if keys is None:
            return _anywhere(literal)
        # A JSON number, or a string that reads as one: anchored on the field's name.
        found = {key + ending for key in keys for ending in (literal, "-", '"' + literal)}
        found.update(key + '"' + start for key in keys for start in _NUMBER_STARTS)
        return frozenset(found)
    if _JSON_NUMBER.fullmatch(literal) is not None:
        # Strings match the text of numbers and booleans, which JSON writes without quotes.
        # (Records with fractional numbers are not judged raw: `RAW_GUARD`.)
        if kind != "exact" or keys is None:
            return _anywhere(literal)
        return frozenset(key + form for key in keys for form in (literal, f'"{literal}"'))
    lowered = literal.lower()
    if kind in ("prefix", "suffix") and (
        set(lowered) <= _NUMBER_CHARACTERS or lowered in "true" or lowered in "false"
    ):
        # A piece of a number's or a boolean's text: JSON writes those without quotes.
        return _anywhere(literal)
    if names is None and any(lowered in label for label in _REWRITTEN_VALUES):
        return None  # a keyword may find a value only `with_aliases` writes
    forms = case_variants(literal) if not literal.isascii() else (literal,)
    if forms is None:
        return None
    escaped = [_json_escape(form) for form in forms]
    if kind in ("exact", "prefix"):
        ending = '"' if kind == "exact" else ""
        starts = ['":'] if keys is None else keys
        return frozenset(start + '"' + form + ending for start in starts for form in escaped)
    ending = '"' if kind == "suffix" else ""
    if (
        in_value
        and names is not None
        and lowered in COMMON_LITERALS
        and not set(lowered) <= _SCALAR_TEXT
    ):
        # Found in most values (`.exe`): it filters only when sought in its field's value.
        return frozenset(_in_value(names, form + ending) for form in escaped)
    if kind == "suffix":
        return frozenset(form + ending for form in escaped)
    if len(escaped) == 1:
        return _anywhere(escaped[0])
    return frozenset(escaped)


_SCALAR_TEXT = frozenset("0123456789+-.etrufalsn")
"""Characters of JSON numbers, booleans and null, which are written without quotes: a literal
made only of them may be found in such a value, not inside a string."""


def _in_value(names: tuple[str, ...], text: str) -> str:
    return IN_VALUE + IN_VALUE.join(names) + IN_VALUE + text


_JSON_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_JSON_TABLE = {
    code: _JSON_ESCAPES.get(chr(code), f"\\u{code:04x}") for code in [*range(0x20), 0x22, 0x5C]
}


def _json_escape(text: str) -> str:
    """The text as the EVTX parser's JSON writes it inside a string (lower-case hex)."""
    return text.translate(_JSON_TABLE)


def _clauses(
    formula: Formula,
    render: Callable[[str, str, str | None], frozenset[str] | None],
    rank: Callable[[frozenset[str]], Any],
) -> list[frozenset[str]]:
    if formula is True:
        return []
    if formula is False:
        return [frozenset()]
    tag = formula[0]
    if tag == "atom":
        literals = render(formula[1], formula[2], formula[3])
        return [] if literals is None else [literals]
    members = [_clauses(member, render, rank) for member in formula[1]]
    if tag == "and":
        return [clause for member in members for clause in member]
    if any(not member for member in members):
        return []  # one member needs nothing: neither does the `or`
    result: list[frozenset[str]] = [frozenset()]
    for member in members:
        result = [left | right for left in result for right in member]
        if len(result) > _MAX_CLAUSES:
            # Weaker but still implied: each member implies each of its own clauses, so
            # the union of each member's most selective clause.
            return [frozenset().union(*(min(member, key=rank) for member in members))]
    return result
