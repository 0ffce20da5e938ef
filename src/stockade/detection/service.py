"""Detection use cases: each tenant's rule set (the catalogue plus its own rules, with rules
switched off) and the engine that runs it for live telemetry."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from stockade.core.clock import Clock
from stockade.core.errors import Conflict, InvalidInput, NotFound
from stockade.detection.compile import CompiledRule
from stockade.detection.correlate import CompiledCorrelation
from stockade.detection.engine import DetectionEngine
from stockade.detection.load import RuleSet, load_rule_text
from stockade.detection.model import RuleInfo, severity_for_level
from stockade.detection.store import DetectionStore
from stockade.storage.database import Database

__all__ = ["DetectionRule", "DetectionService"]


@dataclass(frozen=True)
class DetectionRule:
    """A rule as a tenant sees it."""

    info: RuleInfo
    is_enabled: bool
    custom: bool
    """Uploaded by the tenant (may be deleted) rather than from the catalogue."""
    query_text: str | None = None
    created_at: datetime | None = None
    correlation: bool = False


class DetectionService:
    """Rule sets per tenant over one catalogue shared by all tenants.

    Engines are built on demand and kept per tenant with the revision of the tenant's rule set
    they were built from; every change bumps the revision in the database, so each process
    rebuilds its engine on the next batch after a change, wherever the change was made.
    """

    def __init__(self, db: Database, clock: Clock, catalogue: RuleSet) -> None:
        self.db = db
        self.clock = clock
        self.catalogue = catalogue
        self._catalogue_ids = {rule.info.id for rule in catalogue.rules} | {
            correlation.info.id for correlation in catalogue.correlations
        }
        self._engines: dict[str, tuple[int, DetectionEngine]] = {}
        self._compiled: dict[tuple[str, str], RuleSet] = {}
        self._lock = threading.Lock()

    # --- rules -----------------------------------------------------------------------------

    def list_rules(self, tenant_id: str) -> list[DetectionRule]:
        with self.db.read() as conn:
            store = DetectionStore(conn, tenant_id)
            disabled = store.disabled()
            custom = store.custom_rules()
        rules = [
            DetectionRule(rule.info, rule.info.id not in disabled, custom=False)
            for rule in self.catalogue.rules
        ]
        rules += [
            DetectionRule(c.info, c.info.id not in disabled, custom=False, correlation=True)
            for c in self.catalogue.correlations
        ]
        for row in custom:
            info = self._custom_info(row)
            rules.append(
                DetectionRule(
                    info,
                    info.id not in disabled,
                    custom=True,
                    query_text=row["query_text"],
                    created_at=row["created_at"],
                )
            )
        return rules

    def get_rule(self, tenant_id: str, rule_id: str) -> DetectionRule:
        for rule in self.list_rules(tenant_id):
            if rule.info.id == rule_id:
                return rule
        raise NotFound(f"no detection rule {rule_id}", id=rule_id)

    def create_rule(self, tenant_id: str, query_text: str) -> DetectionRule:
        """Add a Sigma rule (one YAML document) to the tenant's set."""
        loaded = load_rule_text(query_text, "queryCondition.queryText")
        if loaded.problems:
            raise InvalidInput(
                "the Sigma rule does not load",
                status=400,
                errors=[
                    {"field": "queryCondition.queryText", "line": p.line, "message": p.message}
                    for p in loaded.problems
                ],
            )
        if len(loaded.rules) != 1 or loaded.correlations:
            raise InvalidInput(
                "queryCondition.queryText must hold exactly one Sigma detection rule",
                status=400,
                errors=[{"field": "queryCondition.queryText", "message": "one rule expected"}],
            )
        rule_id = loaded.rules[0].info.id
        if rule_id in self._catalogue_ids:
            raise Conflict(f"rule {rule_id} is in the catalogue already", id=rule_id)
        now = self.clock.now()
        with self.db.begin() as conn:
            store = DetectionStore(conn, tenant_id)
            if store.custom_rule(rule_id) is not None:
                raise Conflict(f"rule {rule_id} exists already", id=rule_id)
            store.add_custom_rule(rule_id, query_text, now)
            store.bump_revision()
        return self.get_rule(tenant_id, rule_id)

    def set_enabled(self, tenant_id: str, rule_id: str, enabled: bool) -> DetectionRule:
        self.get_rule(tenant_id, rule_id)  # 404 for ids the tenant cannot see
        with self.db.begin() as conn:
            store = DetectionStore(conn, tenant_id)
            store.set_enabled(rule_id, enabled, self.clock.now())
            store.bump_revision()
        return self.get_rule(tenant_id, rule_id)

    def delete_rule(self, tenant_id: str, rule_id: str) -> None:
        rule = self.get_rule(tenant_id, rule_id)
        if not rule.custom:
            raise Conflict(f"rule {rule_id} is from the catalogue: disable it instead", id=rule_id)
        with self.db.begin() as conn:
            store = DetectionStore(conn, tenant_id)
            store.delete_custom_rule(rule_id)
            store.bump_revision()

    # --- engines ---------------------------------------------------------------------------

    def engine_for(self, tenant_id: str) -> DetectionEngine:
        """The engine for the tenant's current rule set (one revision query when unchanged)."""
        with self.db.read() as conn:
            store = DetectionStore(conn, tenant_id)
            revision = store.revision()
            cached = self._engines.get(tenant_id)
            if cached is not None and cached[0] == revision:
                return cached[1]
            disabled = store.disabled()
            custom = store.custom_rules()
        rules: list[CompiledRule] = [
            rule for rule in self.catalogue.rules if rule.info.id not in disabled
        ]
        correlations: list[CompiledCorrelation] = [
            c for c in self.catalogue.correlations if c.info.id not in disabled
        ]
        for row in custom:
            compiled = self._compile_custom(row)
            rules.extend(rule for rule in compiled.rules if rule.info.id not in disabled)
        engine = DetectionEngine(rules, correlations)
        with self._lock:
            self._engines[tenant_id] = (revision, engine)
        return engine

    def _compile_custom(self, row: dict[str, object]) -> RuleSet:
        key = (str(row["id"]), str(row["query_text"]))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = load_rule_text(key[1], f"custom:{key[0]}")
            self._compiled[key] = compiled
        return compiled

    def _custom_info(self, row: dict[str, object]) -> RuleInfo:
        compiled = self._compile_custom(row)
        if compiled.rules:
            return compiled.rules[0].info
        # Stored rules loaded when uploaded; a newer pySigma could still refuse one.
        return RuleInfo(
            id=str(row["id"]),
            title=str(row["id"]),
            level=severity_for_level(None),
            description="; ".join(p.message for p in compiled.problems),
            tags=(),
            mitre_techniques=(),
            category="",
            source=f"custom:{row['id']}",
        )
