"""Load Sigma rules from text, files, directories and the shipped rule set.

Loading collects, it does not crash: every problem (YAML syntax, invalid Sigma, constructs the
compiler does not support, correlations that reference unknown rules, duplicate ids) becomes a
`RuleProblem` with its source, and the good rules are kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule
from sigma.rule.base import SigmaYAMLLoader

from stockade.detection import cache
from stockade.detection.compile import (
    CompiledRule,
    PlaceholderValues,
    RulePlan,
    UnsupportedRuleError,
    compile_correlation,
    compile_plan,
    plan_rule,
)
from stockade.detection.correlate import CompiledCorrelation
from stockade.detection.model import RuleProblem

__all__ = ["RULE_SUFFIXES", "RuleSet", "builtin_rules", "load_rule_paths", "load_rule_text"]

RULE_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class RuleSet:
    """Compiled rules and correlations plus everything that could not be loaded, in order."""

    rules: tuple[CompiledRule, ...]
    problems: tuple[RuleProblem, ...]
    correlations: tuple[CompiledCorrelation, ...] = ()
    fingerprint: str = ""
    """Identifies the rule files as loaded (see `cache.fingerprint`); empty if unknown."""

    def __add__(self, other: RuleSet) -> RuleSet:
        return RuleSet(
            self.rules + other.rules,
            self.problems + other.problems,
            self.correlations + other.correlations,
        )


@dataclass
class _Parsed:
    """pySigma objects of one or more files, before filters apply and compilation."""

    rules: list[tuple[SigmaRule, str]] = field(default_factory=list)
    correlations: list[tuple[SigmaCorrelationRule, str]] = field(default_factory=list)
    filters: list[tuple[SigmaFilter, str]] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)

    def extend(self, other: _Parsed) -> None:
        self.rules.extend(other.rules)
        self.correlations.extend(other.correlations)
        self.filters.extend(other.filters)
        self.problems.extend(other.problems)


def load_rule_text(
    text: str, source: str, placeholders: PlaceholderValues | None = None
) -> RuleSet:
    """Parse and compile the Sigma rules in one YAML text (one or more documents)."""
    return _build(_parse_text(text, source), placeholders)


def load_rule_paths(
    paths: Iterable[Path],
    placeholders: PlaceholderValues | None = None,
    cache_dir: Path | None = None,
) -> RuleSet:
    """Load rule files and directories (recursively, *.yml and *.yaml, in name order).

    Filters and correlations apply across files: a filter in one file excludes events from
    rules in others; a correlation may reference rules of any file loaded in the same call.
    A rule id seen before (in this call) is reported and the later rule dropped, because alerts
    are keyed by rule id.

    With ``cache_dir``, the parsed rules of this exact set of files (paths, sizes and
    modification times) are kept there, and a later call with the same files skips YAML,
    pySigma and condition parsing (see `cache`).
    """
    missing: list[RuleProblem] = []
    files = list(_rule_files(paths, missing))
    key = cache.fingerprint(files) if cache_dir is not None else ""
    plans = cache.read(cache_dir, key) if cache_dir is not None else None
    if plans is None:
        parsed = _Parsed()
        for file in files:
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                parsed.problems.append(RuleProblem(str(file), None, None, f"cannot read: {error}"))
                continue
            parsed.extend(_parse_text(text, str(file)))
        plans = _plan(parsed)
        if cache_dir is not None:
            cache.write(cache_dir, key, plans)
    built = _compile(plans, placeholders)
    return RuleSet(built.rules, tuple(missing) + built.problems, built.correlations, key)


def _parse_text(text: str, source: str) -> _Parsed:
    parsed = _Parsed()
    problems = parsed.problems
    try:
        # Sigma's (safe) loader rejects duplicate keys, which plain YAML silently overwrites.
        documents = [doc for doc in yaml.load_all(text, Loader=SigmaYAMLLoader) if doc is not None]
    except yaml.YAMLError as error:
        problems.append(_yaml_problem(error, source))
        return parsed

    mappings: list[dict[str, Any]] = []
    for number, document in enumerate(documents, start=1):
        if isinstance(document, dict):
            mappings.append(_spec_modifier_names(document))
        else:
            problems.append(
                RuleProblem(source, None, None, f"YAML document {number} is not a mapping")
            )
    if not mappings:
        if not problems:
            problems.append(RuleProblem(source, None, None, "no Sigma rule in file"))
        return parsed

    location = SigmaRuleLocation(Path(source))
    try:
        collection = SigmaCollection.from_dicts(
            mappings,
            collect_errors=True,
            source=location,
            collect_filters=True,
            resolve_references=False,
        )
    except Exception as error:  # pySigma raises assorted types on malformed input
        problems.append(_problem(source, None, error))
        return parsed

    reported: set[int] = set()
    for rule in collection.rules:
        rule_id = str(rule.id) if rule.id is not None else None
        if rule.errors:
            for rule_error in rule.errors:
                reported.add(id(rule_error))
                problems.append(_problem(source, rule_id, rule_error))
        elif isinstance(rule, SigmaCorrelationRule):
            parsed.correlations.append((rule, source))
        elif isinstance(rule, SigmaRule):
            parsed.rules.append((rule, source))
        else:
            problems.append(
                RuleProblem(source, None, rule_id, f"{type(rule).__name__} is not supported")
            )
    for sigma_filter in collection.filters:
        if sigma_filter.errors:
            filter_id = str(sigma_filter.id) if sigma_filter.id is not None else None
            for filter_error in sigma_filter.errors:
                reported.add(id(filter_error))
                problems.append(_problem(source, filter_id, filter_error))
        else:
            parsed.filters.append((sigma_filter, source))
    # Errors of whole documents (unknown collection actions, ...) belong to no rule.
    problems.extend(
        _problem(source, None, error) for error in collection.errors if id(error) not in reported
    )
    return parsed


# Modifier names of the Sigma specification that pySigma spells differently.
_MODIFIER_SPELLINGS = {"utf16le": "wide"}


def _spec_modifier_names(document: dict[str, Any]) -> dict[str, Any]:
    detection = document.get("detection")
    if not isinstance(detection, dict):
        return document

    def respell(selection: Any) -> Any:
        if isinstance(selection, list):
            return [respell(item) for item in selection]
        if not isinstance(selection, dict):
            return selection
        renamed: dict[Any, Any] = {}
        for key, value in selection.items():
            if isinstance(key, str) and "|" in key:
                name, *modifiers = key.split("|")
                key = "|".join([name, *(_MODIFIER_SPELLINGS.get(m, m) for m in modifiers)])
            renamed[key] = value
        return renamed

    return {
        **document,
        "detection": {key: respell(value) for key, value in detection.items()},
    }


def _build(parsed: _Parsed, placeholders: PlaceholderValues | None) -> RuleSet:
    return _compile(_plan(parsed), placeholders)


def _plan(parsed: _Parsed) -> cache.Plans:
    """Apply filters, parse conditions and resolve correlations: all but building closures."""
    plans: list[RulePlan] = []
    problems = list(parsed.problems)
    names: dict[str, str] = {}
    for rule, source in parsed.rules:
        for sigma_filter, _ in parsed.filters:
            try:
                applied = sigma_filter.apply_on_rule(rule)
            except Exception as error:  # a broken filter must not lose the rule
                problems.append(_problem(source, _id_of(rule), error))
                continue
            if isinstance(applied, SigmaRule):
                rule = applied
        try:
            plan = plan_rule(rule, source)
            compile_plan(plan)  # what would not compile is reported now, not cached
        except Exception as error:  # one odd rule must not stop the rest from loading
            problems.append(_problem(source, _id_of(rule), error))
            continue
        plans.append(plan)
        if rule.name:
            names[rule.name] = plan.info.id
        names[plan.info.id] = plan.info.id
    correlations: list[CompiledCorrelation] = []
    for correlation, source in parsed.correlations:
        try:
            correlations.append(compile_correlation(correlation, source, names))
        except Exception as error:
            problems.append(_problem(source, _id_of(correlation), error))
    return cache.Plans(tuple(plans), tuple(problems), tuple(correlations))


def _compile(plans: cache.Plans, placeholders: PlaceholderValues | None) -> RuleSet:
    rules: list[CompiledRule] = []
    problems = list(plans.problems)
    for plan in plans.rules:
        try:
            # Lazily, unless placeholder values could make a planned rule fail to build.
            rules.append(compile_plan(plan, placeholders, lazy=not placeholders))
        except Exception as error:  # placeholders can make a rule fail that planned fine
            problems.append(_problem(plan.info.source, plan.info.id, error))
    return _without_duplicate_ids(RuleSet(tuple(rules), tuple(problems), plans.correlations))


def _id_of(rule: SigmaRule | SigmaCorrelationRule) -> str | None:
    return str(rule.id) if rule.id is not None else None


def builtin_rules() -> RuleSet:
    """The rules shipped in ``stockade/detection/rules``; sources read ``builtin:<name>``."""
    result = RuleSet((), ())
    folder = resources.files("stockade.detection").joinpath("rules")
    entries = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(RULE_SUFFIXES)),
        key=lambda entry: entry.name,
    )
    for entry in entries:
        name = entry.name.rsplit(".", 1)[0]
        result += load_rule_text(entry.read_text(encoding="utf-8"), f"builtin:{name}")
    return _without_duplicate_ids(result)


def _rule_files(paths: Iterable[Path], problems: list[RuleProblem]) -> Iterator[Path]:
    for path in paths:
        path = Path(path)
        if path.is_dir():
            yield from sorted(_tree_files(path))
        elif path.is_file():
            yield path
        else:
            problems.append(RuleProblem(str(path), None, None, "no such file or directory"))


def _tree_files(folder: Path) -> list[Path]:
    """Rule files under a folder, as ``rglob`` finds them (symlinked folders not entered,
    unreadable ones skipped), at a third of its cost: a SigmaHQ checkout has 3,800 files, and
    listing them is most of a cached load."""
    found: list[Path] = []
    pending = [str(folder)]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif (
                        os.path.splitext(entry.name)[1].lower() in RULE_SUFFIXES and entry.is_file()
                    ):
                        found.append(Path(entry.path))
        except OSError:
            continue
    return found


def _without_duplicate_ids(rule_set: RuleSet) -> RuleSet:
    first_source: dict[str, str] = {}
    kept: list[CompiledRule] = []
    problems = list(rule_set.problems)
    for rule in rule_set.rules:
        seen = first_source.get(rule.info.id)
        if seen is not None:
            problems.append(
                RuleProblem(
                    rule.info.source,
                    None,
                    rule.info.id,
                    f"duplicate rule id (first loaded from {seen}); rule skipped",
                )
            )
            continue
        first_source[rule.info.id] = rule.info.source
        kept.append(rule)
    return RuleSet(tuple(kept), tuple(problems), rule_set.correlations)


def _yaml_problem(error: yaml.YAMLError, source: str) -> RuleProblem:
    mark = getattr(error, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    return RuleProblem(source, line, None, f"invalid YAML: {error}")


def _problem(source: str, rule_id: str | None, error: Exception) -> RuleProblem:
    location = getattr(error, "source", None)
    line = location.line if isinstance(location, SigmaRuleLocation) else None
    if isinstance(error, SigmaError | UnsupportedRuleError):
        # SigmaError's str() appends the absolute path; the problem carries the source already.
        message = str(error.args[0]) if error.args else type(error).__name__
    else:
        message = f"{type(error).__name__}: {error}"
    return RuleProblem(source, line, rule_id, message)
