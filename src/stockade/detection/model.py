"""Detection vocabulary: what a rule is about and what a match says.

Frozen dataclasses only; no I/O. Sigma rule levels map onto Stockade's `Severity` as follows:

=============  =============
Sigma level    Severity
=============  =============
informational  informational
low            low
medium         medium
high           high
critical       high
(absent)       medium
=============  =============

`critical` folds into `high` because Severity follows the Defender alert scale, which stops at
high. A rule without a level is treated as medium: it still says something is wrong, but its
author did not claim it is certain.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from stockade.core.model import Severity

__all__ = ["SIGMA_LEVEL_SEVERITY", "Match", "RuleInfo", "RuleProblem", "severity_for_level"]

SIGMA_LEVEL_SEVERITY: dict[str, Severity] = {
    "informational": Severity.INFORMATIONAL,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.HIGH,
}


def severity_for_level(level: str | None) -> Severity:
    """Map a Sigma level name (case-insensitive) to a Severity; unknown or absent -> medium."""
    if level is None:
        return Severity.MEDIUM
    return SIGMA_LEVEL_SEVERITY.get(level.lower(), Severity.MEDIUM)


@dataclass(frozen=True)
class RuleInfo:
    """What a detection rule is: identity, severity and ATT&CK context."""

    id: str
    """Sigma rule id (UUID string), or a stable UUID derived from the title when absent."""
    title: str
    level: Severity
    description: str
    tags: tuple[str, ...]
    mitre_techniques: tuple[str, ...]
    """ATT&CK technique ids from `attack.tNNNN(.NNN)` tags, e.g. ("T1059.001",)."""
    category: str
    """Alert category from the first ATT&CK tactic tag, e.g. "Execution"; "" if none."""
    source: str
    """File path the rule came from, or "builtin:<name>" for shipped rules."""
    sigma_level: str = ""
    """The rule's own Sigma level (``critical`` stays critical); "" if it has none."""
    logsource: str = ""
    """``product/category/service`` as the rule names them (``windows/process_creation``)."""


@dataclass(frozen=True)
class RuleProblem:
    """Why a rule (or a whole file) could not be loaded; loading goes on without it."""

    source: str
    line: int | None
    rule_id: str | None
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        rule = f" (rule {self.rule_id})" if self.rule_id else ""
        return f"{where}{rule}: {self.message}"


@dataclass(frozen=True)
class Match:
    """One rule that matched one event, or a correlation rule that fired on several."""

    rule: RuleInfo
    events: tuple[Hashable, ...] = ()
    """For a correlation match: references of the events behind it (what the caller passed to
    `DetectionEngine.match` as ``reference``), oldest first. Empty for a plain match."""

    @property
    def is_correlation(self) -> bool:
        return bool(self.events)
