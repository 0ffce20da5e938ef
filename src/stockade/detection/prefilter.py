"""Literal prefilter: which rules could possibly match an event, decided by one text scan.

Most rules cannot match most events, and proving it per rule costs a Python call each. Instead
each rule gets a set of *required literals*, derived from its condition tree: lower-cased
strings of which at least one must occur in some value of any event the rule matches. The
engine scans the lower-cased values of an event once for all literals of the rules that could
see it (one Hyperscan pass) and evaluates only the rules whose literal occurred, plus the
rules without literals.

Derivation (sound: it may admit events the rule then rejects, never the other way round):

- A string value needs its longest wildcard-free piece (case folded: the scan text is lower-
  cased, and a cased match implies a case-insensitive one). Placeholders, empty strings and
  pure wildcards need nothing, nor do numbers (``1e1`` equals 10 but does not contain "10"),
  CIDR, comparisons, null, exists and field references.
- A regular expression needs the longest run of plain characters at its top level (none if
  it alternates at the top level; a group or alternation inside ends a run).
- A value list (OR) needs the union of its members' literals, or nothing if one member needs
  nothing. The same holds for ``or`` and for several conditions.
- ``and`` needs the literals of one of its members, chosen to be as selective as possible:
  members whose literals are all uncommon first (``COMMON_LITERALS`` lists strings found in
  most benign Windows events, such as ``.exe`` or ``true``), then the longest shortest
  literal, then the fewest literals.
- ``not`` needs nothing.
- One-character literals are kept only when they are not ASCII: an emoji or a right-to-left
  override is rare, an ``a`` is everywhere. This keeps rules that hunt for lookalike
  characters out of the always-evaluated set.

`required_event_ids` applies the same reasoning to ``EventID: n`` selections, so a rule on
a whole channel (``service: security``) that only looks at some EventIDs is sorted into those
EventIDs' buckets only.
"""

from __future__ import annotations

import pickle
import re
import re._constants as sre_constants
import re._parser as sre_parse
import threading
from collections.abc import Iterable, Sequence

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    SigmaCasedString,
    SigmaExpansion,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
)

try:  # Hyperscan wheels exist for x86-64 only; elsewhere the slower pure-Python scan runs.
    import hyperscan
except ImportError:  # pragma: no cover - depends on the platform
    hyperscan = None

try:  # Built when Hyperscan's headers are there (setup.py); the Python scan does the same.
    from stockade.detection import _rawscan
except ImportError:  # pragma: no cover - depends on the build
    _rawscan = None  # type: ignore[assignment]

__all__ = [
    "ABSENT",
    "COMMON_LITERALS",
    "HYPERSCAN",
    "IN_VALUE",
    "MIN_LITERAL",
    "NATIVE",
    "RARE_CHARACTERS",
    "LiteralScanner",
    "RuleScanner",
    "clause_rank",
    "native_for",
    "regex_literal",
    "required_event_ids",
    "required_literals",
    "scan_text",
]

HYPERSCAN = hyperscan is not None
NATIVE = _rawscan is not None
"""Whether raw records are judged natively (`RuleScanner.judge`)."""
Literals = frozenset[str] | None
"""None: the rule needs no literal (it must always be evaluated)."""

MIN_LITERAL = 2  # a one-character ASCII literal occurs in nearly every event

RARE_CHARACTERS = frozenset("`^~|<>")
"""ASCII characters seldom in benign events: alone, still a literal worth scanning for."""

COMMON_LITERALS = frozenset(
    {
        "true",
        "false",
        "valid",
        "signed",
        "system",
        "security",
        "windows",
        "microsoft",
        "microsoft corporation",
        "microsoft windows",
        "nt authority",
        "negotiate",
        "kerberos",
        ".exe",
        ".dll",
        ".tmp",
        ".sys",
        "c:\\",
        ":\\",
        "c:\\windows\\",
        ":\\windows\\",
        "\\windows\\",
        "\\system32\\",
        "c:\\windows\\system32\\",
        ":\\windows\\system32\\",
        "\\windows\\system32\\",
        "c:\\users\\",
        ":\\users\\",
        "\\users\\",
        "\\appdata\\",
        "\\appdata\\local\\",
        "\\appdata\\roaming\\",
        "\\program files\\",
        "c:\\program files\\",
        "\\program files (x86)\\",
        "c:\\programdata\\",
        "\\programdata\\",
        "hklm\\",
        "hku\\",
        "\\software\\",
        "\\software\\microsoft\\",
        "\\currentversion\\",
        "\\microsoft\\windows\\",
        "s-1-5-",
        "s-1-5-21-",
        "s-1-5-18",
        "127.",
        "127.0.0.1",
        "0x3e7",
        "0x3e",
        "tcp",
        "udp",
        "https",
        "http",
        "-",
        "%%",
        "\\svchost.exe",
        "svchost.exe",
        "\\explorer.exe",
        "explorer.exe",
        "\\services.exe",
        "\\conhost.exe",
        "\\cmd.exe",
        "cmd.exe",
        "\\powershell.exe",
        "powershell",
        "\\rundll32.exe",
        "\\chrome.exe",
        "\\msedge.exe",
    }
)
"""Strings in most benign Windows events; a literal among them filters little."""


def required_literals(trees: Sequence[object]) -> Literals:
    """The literals a rule with these conditions (alternatives) requires."""
    return _union([_literals(tree) for tree in trees])


def _literals(node: object) -> Literals:
    if isinstance(node, ConditionAND):
        return _best([_literals(arg) for arg in node.args])
    if isinstance(node, ConditionOR):
        return _union([_literals(arg) for arg in node.args])
    if isinstance(node, ConditionNOT):
        return None
    if isinstance(node, ConditionFieldEqualsValueExpression | ConditionValueExpression):
        return _value_literals(node.value)
    return None


def _value_literals(value: object) -> Literals:
    if type(value) is SigmaRegularExpression:
        literal = regex_literal(value)
        return None if literal is None else frozenset({literal})
    if type(value) in (SigmaString, SigmaCasedString):
        literal = _string_literal(value)  # type: ignore[arg-type]
        return None if literal is None else frozenset({literal})
    if type(value) is SigmaExpansion:
        return _union([_value_literals(item) for item in value.values])
    return None


def regex_literal(value: SigmaRegularExpression) -> str | None:
    """The longest run of plain characters at the top level of the pattern: a search can only
    succeed where it occurs. Groups, classes, repeats and alternation end a run."""
    if value.regexp.contains_placeholder():
        return None
    try:
        parsed = sre_parse.parse(str(value.regexp))
    except Exception:  # the compiler reports the pattern; the prefilter just gives up
        return None
    if len(parsed) == 1 and parsed[0][0] is sre_constants.BRANCH:
        return None  # alternatives at the top: no literal is common to all
    # (An alternation inside the sequence, `a(?:b|c)d`, only ends a run of literals.)
    best = ""
    run: list[str] = []
    for op, argument in [*parsed, (None, None)]:
        if op is sre_constants.LITERAL:
            run.append(chr(argument))  # type: ignore[arg-type]
            continue
        if len("".join(run)) > len(best):
            best = "".join(run)
        run = []
    best = best.lower()
    if len(best) >= MIN_LITERAL or (best and not best.isascii()) or best in RARE_CHARACTERS:
        return best
    return None


def _string_literal(value: SigmaString) -> str | None:
    if value.contains_placeholder():
        return None
    pieces: list[str] = []
    current = ""
    for part in value.s:
        if isinstance(part, str):
            current += part
        else:
            pieces.append(current)
            current = ""
    pieces.append(current)
    longest = max(pieces, key=len).lower()
    if len(longest) >= MIN_LITERAL or (longest and not longest.isascii()):
        return longest
    return None


def _union(sets: list[Literals]) -> Literals:
    if not sets or any(literals is None for literals in sets):
        return None
    return frozenset().union(*sets)  # type: ignore[arg-type]


def _best(sets: list[Literals]) -> Literals:
    known = [literals for literals in sets if literals]
    if not known:
        return None
    return max(
        known,
        key=lambda literals: (
            literals.isdisjoint(COMMON_LITERALS),
            min(map(len, literals)),
            -len(literals),
        ),
    )


EventIds = frozenset[int] | None
"""None: the rule may match any EventID."""


def required_event_ids(trees: Sequence[object]) -> EventIds:
    """The EventIDs a rule with these conditions can match, from ``EventID: n`` selections."""
    found = [_event_ids(tree) for tree in trees]
    if not found or any(ids is None for ids in found):
        return None
    return frozenset().union(*found)  # type: ignore[arg-type]


def _event_ids(node: object) -> EventIds:
    if isinstance(node, ConditionAND):
        known = [ids for ids in (_event_ids(arg) for arg in node.args) if ids is not None]
        if not known:
            return None
        return frozenset.intersection(*known)
    if isinstance(node, ConditionOR):
        found = [_event_ids(arg) for arg in node.args]
        if any(ids is None for ids in found):
            return None
        return frozenset().union(*found)  # type: ignore[arg-type]
    if isinstance(node, ConditionFieldEqualsValueExpression) and node.field == "EventID":
        value = node.value
        if type(value) is SigmaNumber and isinstance(value.number, int):
            return frozenset({value.number})
        if type(value) is SigmaString and not value.contains_special():
            text = str(value)
            if text.isascii() and text.isdigit():
                return frozenset({int(text)})
    return None


def scan_text(values: Iterable[object]) -> str:
    """The text the scan runs over: every scalar value, lower-cased, one per line."""
    return "\n".join(
        value if type(value) is str else str(value) for value in values if value is not None
    ).lower()


class LiteralScanner:
    """Finds which of a fixed list of literals occur in a text."""

    def __init__(self, literals: Sequence[str]) -> None:
        self._literals = tuple(literals)
        self._database = None
        self._compiled = False

    def _compile(self) -> None:
        # On first use: where `RuleScanner` serves, this one is rarely needed.
        self._compiled = True
        if hyperscan is not None and self._literals:
            database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            database.compile(
                # \xHH for every byte: the literal needs no other escaping rule.
                expressions=[
                    "".join(f"\\x{byte:02x}" for byte in literal.encode()).encode()
                    for literal in self._literals
                ],
                ids=list(range(len(self._literals))),
                elements=len(self._literals),
                flags=hyperscan.HS_FLAG_SINGLEMATCH,
            )
            self._database = database

    def scan(self, text: str) -> set[int]:
        """Indices of the literals that occur in the (lower-cased) text."""
        if not self._compiled:
            self._compile()
        if self._database is None:
            return {index for index, literal in enumerate(self._literals) if literal in text}
        found: set[int] = set()
        add = found.add

        def on_match(literal_id: int, start: int, end: int, flags: int, context: object) -> None:
            add(literal_id)

        self._database.scan(text.encode("utf-8", "surrogatepass"), match_event_handler=on_match)
        return found


ABSENT = "\x00"
"""Starts a negative literal in a clause: ``ABSENT + "\x00".join(names)`` holds when none of
the names is in the text with a value (see `scanplan`, ``null``)."""

IN_VALUE = "\x02"
"""Starts a positive literal found only inside the value of some names:
``IN_VALUE + "\x02".join(names) + IN_VALUE + text``, where ``text`` is JSON-escaped and ends
with ``"`` when it must end the value (see `scanplan`: for literals too common to filter
anywhere, such as ``.exe``)."""

Checks = tuple[tuple[frozenset[int], frozenset[int]], ...]
"""Clauses as (positive literal ids, negative literal ids)."""


def clause_rank(clause: frozenset[str]) -> tuple[bool, bool, int, int]:
    """How little a clause of raw-record literals filters (smaller is better): clauses with
    negative literals last (they cannot index a rule), then common literals, then short ones,
    then many. A literal is judged by its value, without JSON anchors and escapes."""
    cores = [_core(literal) for literal in clause if not literal.startswith(ABSENT)]
    return (
        len(cores) < len(clause),
        any(core in COMMON_LITERALS or _in_skeleton(core) for core in cores),
        -min(map(len, cores), default=0),
        len(clause),
    )


RECORD_SKELETON = (
    '{"event":{"#attributes":{"xmlns":"http://schemas.microsoft.com/win/2004/08/events/event"}',
    '"system":{"provider":{"#attributes":{"name":"guid":"eventsourcename":"eventid":',
    '"qualifiers":"version":"level":"task":"opcode":"keywords":"timecreated":"systemtime":',
    '"eventrecordid":"correlation":"activityid":"relatedactivityid":"execution":"processid":',
    '"threadid":"channel":"computer":"security":"userid":"eventdata":"userdata":"data":',
    # Sysmon and Security event data names
    '"rulename":"utctime":"processguid":"image":"fileversion":"description":"product":',
    '"company":"originalfilename":"commandline":"currentdirectory":"user":"logonguid":',
    '"logonid":"terminalsessionid":"integritylevel":"hashes":"parentprocessguid":',
    '"parentprocessid":"parentimage":"parentcommandline":"parentuser":"targetfilename":',
    '"creationutctime":"imageloaded":"signed":"signature":"signaturestatus":"protocol":',
    '"initiated":"sourceisipv6":"sourceip":"sourcehostname":"sourceport":"sourceportname":',
    '"destinationisipv6":"destinationip":"destinationhostname":"destinationport":',
    '"destinationportname":"eventtype":"targetobject":"details":"newname":"queryname":',
    '"querystatus":"queryresults":"sourceprocessguid":"sourceprocessid":"sourcethreadid":',
    '"sourceimage":"targetprocessguid":"targetprocessid":"targetimage":"grantedaccess":',
    '"calltrace":"sourceuser":"targetuser":"subjectusersid":"subjectusername":',
    '"subjectdomainname":"subjectlogonid":"targetusersid":"targetusername":',
    '"targetdomainname":"targetlogonid":"logontype":"logonprocessname":',
    '"authenticationpackagename":"workstationname":"processname":"ipaddress":"ipport":',
    '"newprocessid":"newprocessname":"tokenelevationtype":"mandatorylabel":',
    '"parentprocessname":"objectname":"objecttype":"accessmask":"accesslist":',
)
"""Text in nearly every raw EVTX record, names included: a literal found in it filters
nothing (`contains` literals are sought in names too)."""


def _in_skeleton(core: str) -> bool:
    return any(core in line for line in RECORD_SKELETON)


_ANCHORS = re.compile(r'^(?:"[^"]*"|"):"?|"$')


def _core(literal: str) -> str:
    if literal.startswith(IN_VALUE):
        literal = literal.rsplit(IN_VALUE, 1)[1]
    return _ANCHORS.sub("", literal).replace("\\\\", "\\").lower()


def native_for(guard: bytes | None) -> bool:
    """Does `RuleScanner.build` make a native scanner for this guard (the one the native
    module implements, where it is built)?"""
    return _rawscan is not None and guard == _rawscan.GUARD


class RuleScanner:
    """Finds a bucket's candidate rules with one Hyperscan scan of a raw record.

    ``always`` rules have no clauses: they are candidates for every record. A rule whose
    first clause has positive literals only is indexed under it; the others are checked on
    every scan. `candidates` yields the rules whose every clause holds (see `scanplan`).

    Where the native module is built (`NATIVE`) and the guard is the one it implements, the
    scanner is *native*: `judge` takes the raw record and does the guard, the scan and the
    clause checks in one call, for the same answer as `candidates` gives.
    """

    def __init__(
        self,
        always: tuple[int, ...],
        database: object | None,
        by_literal: tuple[tuple[tuple[int, Checks], ...], ...],
        guard_id: int = -1,
        checked: tuple[tuple[int, Checks], ...] = (),
        rules: tuple[tuple[int, Checks], ...] = (),
        patterns: tuple[tuple[bytes, int], ...] = (),
        tuned: bool = False,
        unfit: tuple[str, ...] | None = None,
        exclusions: tuple[bytes, bytes] | None = None,
    ) -> None:
        self.always = always
        self._guard = guard_id
        self._database = database
        self._by_literal = by_literal
        self._checked = checked
        self._rules = rules
        """Every indexed rule with all its clauses, for `_retune`."""
        self._patterns = patterns
        """Hyperscan expression and flags of every literal id (the guard last, unless native),
        for `_retune`."""
        self._unfit = unfit
        """Native only (None otherwise): characters that keep a record from being judged raw."""
        self.native = unfit is not None
        self._exclusions = exclusions if self.native else None
        """Native only: what rules a candidate out on a record (`exclusion.encode`)."""
        # Literal frequencies, counted over the first scans, then used to tune the scan.
        self._hits: list[int] | None = None if tuned else [0] * len(by_literal)
        self._scans = 0
        self.retuned = False
        """Set when `_retune` has changed the scan (a store may then keep the new one)."""
        self._lock = threading.Lock()
        self._native = (
            self._native_scanner(database, by_literal, checked, always, counting=not tuned)
            if self.native
            else None
        )
        self.settled: tuple[object, tuple[int, ...]] | None = (
            (self._native, ()) if tuned and self._native is not None else None
        )
        """Once tuning is over (nothing changes any more), the native scanner and the rules
        always candidate beside it (none: the native scanner answers those too)."""

    def _native_scanner(
        self,
        database: object | None,
        by_literal: tuple[tuple[tuple[int, Checks], ...], ...],
        checked: tuple[tuple[int, Checks], ...],
        always: tuple[int, ...],
        counting: bool,
    ) -> object:
        unfit = tuple(char.encode() for char in self._unfit or ())
        return _rawscan.Scanner(  # type: ignore[union-attr]
            database, by_literal, checked, unfit, counting, self._exclusions, always
        )

    @classmethod
    def build(
        cls,
        always: list[int],
        scanned: list[tuple[int, tuple[frozenset[str], ...]]],
        guard: bytes | None = None,
        unfit: Iterable[str] = (),
        exclusions: tuple[bytes, bytes] | None = None,
    ) -> RuleScanner | None:
        """None when Hyperscan is missing or refuses the literals: the caller then matches
        records in full. Each rule's clauses come most selective first. ``guard`` matches
        records that cannot be judged raw; ``unfit`` lists characters that make a record so
        (the native scanner checks both itself). ``exclusions`` (`exclusion.encode`): what rules
        a candidate out on a record, which only the native scanner checks."""
        if hyperscan is None:
            return None
        native = native_for(guard)
        ids: dict[str, int] = {}

        def literal_id(literal: str) -> int:
            found = ids.get(literal)
            if found is None:
                found = ids[literal] = len(ids)
            return found

        def split(clause: frozenset[str]) -> tuple[frozenset[int], frozenset[int]]:
            positive = frozenset(literal_id(item) for item in clause if not item.startswith(ABSENT))
            negative = frozenset(literal_id(item) for item in clause if item.startswith(ABSENT))
            return positive, negative

        entries = [(index, [split(clause) for clause in clauses]) for index, clauses in scanned]
        by_literal, rules, checked = _index(entries, len(ids))
        patterns: tuple[tuple[bytes, int], ...] = ()
        database = None
        if ids:
            caseless = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH
            patterns = tuple(
                (
                    _pattern(literal),
                    hyperscan.HS_FLAG_SINGLEMATCH if literal.startswith(ABSENT) else caseless,
                )
                for literal in ids
            )
            if guard is not None and not native:
                patterns += ((guard, hyperscan.HS_FLAG_SINGLEMATCH),)
            database = _native_database(patterns) if native else _hyperscan(patterns)
            if database is None:
                return None
        guard_id = len(ids) if guard is not None and not native else -1
        return cls(
            tuple(always),
            database,
            by_literal,
            guard_id,
            checked,
            rules,
            patterns,
            unfit=tuple(unfit) if native else None,
            exclusions=exclusions if native else None,
        )

    def dump(self) -> bytes:
        """The scanner as bytes for `load` (the Hyperscan database serialised)."""
        database: bytes | None = None
        if self._database is not None:
            database = (
                self._database.serialize()  # type: ignore[attr-defined]
                if self.native
                else hyperscan.dumpb(self._database)
            )
        state = (
            self.always,
            self._by_literal,
            self._guard,
            self._checked,
            self._rules,
            self._patterns,
            self._hits is None,
            self._unfit,
            self._exclusions,
        )
        return pickle.dumps((_DUMP_FORMAT, state, database), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def load(cls, data: bytes) -> RuleScanner | None:
        """A scanner from `dump`; None if the bytes are not one (or Hyperscan refuses them)."""
        if hyperscan is None:
            return None
        try:
            version, state, database = pickle.loads(data)
            if version != _DUMP_FORMAT:
                return None
            always, by_literal, guard, checked, rules, patterns, tuned, unfit, exclusions = state
            if unfit is not None and _rawscan is None:
                return None  # dumped by a native build
            if database is not None and unfit is not None:
                database = _rawscan.Database.deserialize(database)
            elif database is not None:
                database = hyperscan.loadb(bytes(database), hyperscan.HS_MODE_BLOCK)
                database.scratch = hyperscan.Scratch(database)  # loadb leaves it without
            return cls(
                always,
                database,
                by_literal,
                guard,
                checked,
                rules,
                patterns,
                tuned,
                unfit,
                exclusions,
            )
        except Exception:  # a damaged or foreign entry: build afresh
            return None

    def judge(self, raw: str) -> list[int] | None:
        """`candidates` of a raw record (the parser's JSON as str), for a native scanner,
        ``always`` rules included, less those excluded on the record (`exclusion`); None when
        the record cannot be judged raw (guard, unfit characters)."""
        if self._hits is None:
            # Tuned: the native call runs under the GIL, so it needs no lock of its own.
            return self._native.scan(raw)  # type: ignore[union-attr]
        with self._lock:
            native = self._native
            found = native.scan(raw)  # type: ignore[union-attr]
            # The native scanner counts as `_candidates` does: records it cannot judge are not.
            if self._hits is not None and native.scans >= _RETUNE_AFTER:  # type: ignore[union-attr]
                self._scans = native.scans  # type: ignore[union-attr]
                self._retune(native.hits)  # type: ignore[union-attr]
            return found

    def candidates(self, text: bytes) -> list[int] | None:
        """Rules (in no particular order, each once) whose clauses all hold for the text;
        None when the guard pattern matched (the text cannot be judged this way). Not for
        native scanners (`judge`)."""
        # One scan at a time: Hyperscan's scratch space is the database's, and tuning
        # replaces the database and renumbers literals.
        with self._lock:
            return self._candidates(text)

    def _candidates(self, text: bytes) -> list[int] | None:
        if self._database is None:
            return []
        found: set[int] = set()
        self._database.scan(text, match_event_handler=_collect, context=found)  # type: ignore[attr-defined]
        if self._guard in found:
            return None
        result = [index for index, checks in self._checked if _holds(checks, found)]
        if found:
            by_literal = self._by_literal
            for literal in found:
                for index, checks in by_literal[literal]:
                    if (not checks or _holds(checks, found)) and index not in result:
                        result.append(index)
        hits = self._hits
        if hits is not None:
            for literal in found:
                if literal < len(hits):
                    hits[literal] += 1
            self._scans += 1
            if self._scans >= _RETUNE_AFTER:
                self._retune(hits)
        return result

    def _retune(self, hits: list[int]) -> None:
        """Tune the scan to the records seen so far, without ever leaving out a rule that
        could match:

        - a clause satisfied by a literal found in nearly every record (`_DOMINANT`) is
          dropped (it filters next to nothing), and literals no clause needs any more leave
          the scan, which then reports fewer of them;
        - each rule is indexed under its positive clause found least often, its other clauses
          ordered most-likely-to-fail first.
        """
        self._hits = None
        scans = self._scans
        dominant = {literal for literal, count in enumerate(hits) if count >= _DOMINANT * scans}

        def often(clause: tuple[frozenset[int], frozenset[int]]) -> int:
            positive, negative = clause
            return sum(hits[literal] for literal in positive) + (scans if negative else 0)

        always = list(self.always)
        kept: list[tuple[int, list[tuple[frozenset[int], frozenset[int]]]]] = []
        for index, clauses in (*self._rules, *self._checked):
            remaining = [clause for clause in clauses if clause[0].isdisjoint(dominant)]
            if remaining:
                kept.append((index, sorted(remaining, key=often)))
            else:
                always.append(index)
        needed = sorted(
            {
                literal
                for _, clauses in kept
                for clause in clauses
                for literal in (*clause[0], *clause[1])
            }
        )
        renumber = {old: new for new, old in enumerate(needed)}
        database = self._database
        if len(needed) < len(self._by_literal) and self._patterns:
            tuned = self._compile([self._patterns[old] for old in needed])
            if tuned is not None:
                database = tuned
                self.retuned = True
        if database is not self._database:

            def new_ids(ids: frozenset[int]) -> frozenset[int]:
                return frozenset(renumber[literal] for literal in ids)

            kept = [
                (index, [(new_ids(pos), new_ids(neg)) for pos, neg in clauses])
                for index, clauses in kept
            ]
            guard = (self._patterns[self._guard],) if self._guard >= 0 else ()
            self._patterns = tuple(self._patterns[old] for old in needed) + guard
            size = len(needed)
            self._guard = size if self._guard >= 0 else -1
        else:
            size = len(self._by_literal)
        by_literal, rules, checked = _index(kept, size)
        new_always = tuple(sorted(always))
        native = (
            self._native_scanner(database, by_literal, checked, new_always, counting=False)
            if self.native
            else None
        )
        self._by_literal, self._rules, self._checked = by_literal, rules, checked
        # `always` grows before the scan that relies on it replaces the old one: a
        # `candidates` call may pair the old scan with the new `always` (sound), never the
        # new scan with the old `always`. (A native scanner holds its own.)
        self.always = new_always
        self._database = database
        if native is not None:
            self._native = native
            self.settled = (native, ())

    def _compile(self, patterns: list[tuple[bytes, int]]) -> object | None:
        if self.native:
            return _native_database(patterns) if patterns else None
        if self._guard >= 0:
            patterns = [*patterns, self._patterns[self._guard]]
        return _hyperscan(patterns) if patterns else None


def _index(
    entries: list[tuple[int, list[tuple[frozenset[int], frozenset[int]]]]], size: int
) -> tuple[
    tuple[tuple[tuple[int, Checks], ...], ...],
    tuple[tuple[int, Checks], ...],
    tuple[tuple[int, Checks], ...],
]:
    """Rules (each with its clauses, most selective first) indexed under their first clause
    of positive literals only: (for each literal id, the rules it indexes with their other
    clauses; the indexed rules with all their clauses; the rules without such a clause,
    checked on every scan)."""
    indexed: list[list[tuple[int, Checks]]] = [[] for _ in range(size)]
    rules: list[tuple[int, Checks]] = []
    checked: list[tuple[int, Checks]] = []
    for index, clauses in entries:
        best = next((clause for clause in clauses if not clause[1]), None)
        if best is None:
            checked.append((index, tuple(clauses)))
            continue
        rest = tuple(clause for clause in clauses if clause is not best)
        rules.append((index, (best, *rest)))
        for literal in best[0]:
            indexed[literal].append((index, rest))
    return tuple(map(tuple, indexed)), tuple(rules), tuple(checked)


def _hyperscan(patterns: Sequence[tuple[bytes, int]]) -> object | None:
    """A block-mode database of (expression, flags); None if Hyperscan refuses them."""
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        database.compile(
            expressions=[expression for expression, _ in patterns],
            ids=list(range(len(patterns))),
            elements=len(patterns),
            flags=[flags for _, flags in patterns],
        )
    except hyperscan.error:
        return None
    return database


def _native_database(patterns: Sequence[tuple[bytes, int]]) -> object | None:
    """`_hyperscan` for the native scanner."""
    try:
        return _rawscan.Database(  # type: ignore[union-attr]
            [expression for expression, _ in patterns], [flags for _, flags in patterns]
        )
    except ValueError:
        return None


def _holds(checks: Checks, found: set[int]) -> bool:
    for positive, negative in checks:
        if found.isdisjoint(positive) and negative <= found:
            return False
    return True


def _collect(literal_id: int, start: int, end: int, flags: int, found: set[int]) -> None:
    found.add(literal_id)


def _pattern(literal: str) -> bytes:
    if literal.startswith(ABSENT):
        # A name followed by a scalar value that is not null (an object may flatten to
        # nothing), names matched as written.
        names = literal[len(ABSENT) :].split(ABSENT)
        return b'"(?:' + b"|".join(map(_escaped, names)) + b')":[^n{]'
    if literal.startswith(IN_VALUE):
        # A JSON string value of one of the names, with the text in it: every escape
        # sequence read whole, so that the text starts at a character, not inside an escape.
        names, text = literal[len(IN_VALUE) :].rsplit(IN_VALUE, 1)
        keys = b"|".join(map(_escaped, names.split(IN_VALUE)))
        return b'"(?:' + keys + b')":"' + _STRING_BODY + _escaped(text)
    return _escaped(literal)


_STRING_BODY = rb'(?:[^"\\]|\\[^u]|\\u[0-9a-fA-F]{4})*'
"""Any run of whole characters of a JSON string, as escape sequences or as themselves."""


def _escaped(literal: str) -> bytes:
    """A literal as a Hyperscan pattern: letters and digits as they are (so that caseless
    matching folds them), every other byte as \\xHH."""
    return b"".join(
        bytes((byte,)) if byte in _PLAIN else b"\\x%02x" % byte
        for byte in literal.encode("utf-8", "surrogatepass")
    )


_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_DUMP_FORMAT = 10
_RETUNE_AFTER = 1000  # scans counted before the scan is tuned to what they found
_DOMINANT = 0.97  # a literal found in this share of records satisfies its clauses: dropped
