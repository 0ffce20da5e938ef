"""Entra's "filter for devices" rule language. Pure: parse once, evaluate many times.

    device.trustType -eq "ServerAd" -and (device.isCompliant -eq True -or
        device.extensionAttribute1 -in ["kiosk", "lab"])

Operators (case-insensitive): -eq -ne -startsWith -notStartsWith -endsWith -notEndsWith
-contains -notContains -in -notIn; -and binds tighter than -or; -not and parentheses.
String comparisons ignore case, as Entra's do. A property the device lacks compares as "".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

PROPERTIES = frozenset(
    {
        "deviceId",
        "displayName",
        "operatingSystem",
        "operatingSystemVersion",
        "trustType",
        "isCompliant",
        "mdmAppId",
        "model",
        "manufacturer",
        "deviceOwnership",
        "profileType",
        "systemLabels",
        "enrollmentProfileName",
        "physicalIds",
        *(f"extensionAttribute{i}" for i in range(1, 16)),
    }
)

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lpar>\() | (?P<rpar>\)) | (?P<lbr>\[) | (?P<rbr>\]) | (?P<comma>,)
      | (?P<op>-[A-Za-z]+)
      | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<prop>device\.[A-Za-z0-9]+)
      | (?P<word>[A-Za-z0-9_.]+)
    )""",
    re.VERBOSE,
)

Predicate = Callable[[Mapping[str, Any]], bool]


class DeviceFilterError(ValueError):
    """The rule does not parse; the message says where."""


@dataclass(frozen=True)
class DeviceFilter:
    rule: str
    predicate: Predicate

    def matches(self, device: Mapping[str, Any]) -> bool:
        return self.predicate(device)


def parse_device_filter(rule: str) -> DeviceFilter:
    tokens = _tokenize(rule)
    parser = _Parser(tokens, rule)
    predicate = parser.expression()
    if parser.pos != len(tokens):
        raise DeviceFilterError(f"unexpected {tokens[parser.pos][1]!r} in device filter")
    return DeviceFilter(rule, predicate)


def _tokenize(rule: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    rule = rule.strip()
    while pos < len(rule):
        m = _TOKEN.match(rule, pos)
        if not m or m.end() == pos:
            raise DeviceFilterError(
                f"cannot read the device filter at position {pos}: {rule[pos : pos + 20]!r}"
            )
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " ".join(_text(v) for v in value)
    return str(value).lower()


_BINARY: dict[str, Callable[[str, Any], bool]] = {
    "-eq": lambda a, b: a == b,
    "-ne": lambda a, b: a != b,
    "-startswith": lambda a, b: a.startswith(b),
    "-notstartswith": lambda a, b: not a.startswith(b),
    "-endswith": lambda a, b: a.endswith(b),
    "-notendswith": lambda a, b: not a.endswith(b),
    "-contains": lambda a, b: b in a,
    "-notcontains": lambda a, b: b not in a,
    "-in": lambda a, b: a in b,
    "-notin": lambda a, b: a not in b,
}


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], rule: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.rule = rule

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, kind: str | None = None) -> tuple[str, str]:
        tok = self._peek()
        if tok is None:
            raise DeviceFilterError("the device filter ends too early")
        if kind and tok[0] != kind:
            raise DeviceFilterError(f"expected {kind}, found {tok[1]!r} in device filter")
        self.pos += 1
        return tok

    def expression(self) -> Predicate:
        terms = [self.conjunction()]
        while (tok := self._peek()) and tok[0] == "op" and tok[1].lower() == "-or":
            self.pos += 1
            terms.append(self.conjunction())
        if len(terms) == 1:
            return terms[0]
        return lambda d, ts=tuple(terms): any(t(d) for t in ts)

    def conjunction(self) -> Predicate:
        terms = [self.unary()]
        while (tok := self._peek()) and tok[0] == "op" and tok[1].lower() == "-and":
            self.pos += 1
            terms.append(self.unary())
        if len(terms) == 1:
            return terms[0]
        return lambda d, ts=tuple(terms): all(t(d) for t in ts)

    def unary(self) -> Predicate:
        tok = self._peek()
        if tok and tok[0] == "op" and tok[1].lower() == "-not":
            self.pos += 1
            inner = self.unary()
            return lambda d: not inner(d)
        if tok and tok[0] == "lpar":
            self.pos += 1
            inner = self.expression()
            self._take("rpar")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        _, prop = self._take("prop")
        name = prop.split(".", 1)[1]
        known = {p.lower(): p for p in PROPERTIES}
        if name.lower() not in known:
            raise DeviceFilterError(f"unknown device property {prop!r}")
        name = known[name.lower()]
        _, op = self._take("op")
        test = _BINARY.get(op.lower())
        if test is None:
            raise DeviceFilterError(f"unknown operator {op!r} in device filter")
        if op.lower() in {"-in", "-notin"}:
            value: Any = frozenset(self._list())
        else:
            value = self._value()
        return lambda d: test(_text(d.get(name)), value)

    def _value(self) -> str:
        kind, raw = self._take()
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", raw[1:-1]).lower()
        if kind == "word":
            return raw.lower()
        raise DeviceFilterError(f"expected a value, found {raw!r} in device filter")

    def _list(self) -> list[str]:
        self._take("lbr")
        items = [self._value()]
        while (tok := self._peek()) and tok[0] == "comma":
            self.pos += 1
            items.append(self._value())
        self._take("rbr")
        return items
