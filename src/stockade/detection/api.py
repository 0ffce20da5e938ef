"""Detection HTTP API: a tenant's detection rules, named after Graph's security detectionRules.

``GET /api/security/rules/detectionRules`` lists the catalogue (built-in and configured rule
directories) and the tenant's own rules; ``POST`` adds a Sigma rule
(``{"queryCondition": {"queryText": "<YAML>"}}``); ``PATCH {"isEnabled": false}`` switches any
rule off for the tenant; ``DELETE`` removes a rule the tenant added (catalogue rules can only be
switched off).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field, ValidationError

from stockade.core.errors import InvalidInput
from stockade.detection.service import DetectionRule
from stockade.directory.model import AdminPrincipal, Permission
from stockade.http.auth import require, services
from stockade.http.schema import Body, collection
from stockade.services import Services

router = APIRouter(tags=["detection"])
BASE = "/api/security/rules/detectionRules"


def rule_json(rule: DetectionRule) -> dict[str, Any]:
    info = rule.info
    data: dict[str, Any] = {
        "id": info.id,
        "displayName": info.title,
        "description": info.description,
        "isEnabled": rule.is_enabled,
        "severity": info.level.value,
        "sigmaLevel": info.sigma_level,
        "category": info.category,
        "mitreTechniques": list(info.mitre_techniques),
        "logSource": info.logsource,
        "source": "custom" if rule.custom else "catalogue",
        "ruleType": "correlation" if rule.correlation else "detection",
        "createdDateTime": rule.created_at,
    }
    if rule.query_text is not None:
        data["queryCondition"] = {"queryText": rule.query_text}
    return data


class QueryCondition(Body):
    query_text: str = Field(alias="queryText", min_length=1, max_length=262_144)


class RuleBody(Body):
    query_condition: QueryCondition = Field(alias="queryCondition")
    is_enabled: bool = Field(default=True, alias="isEnabled")


class RulePatch(Body):
    is_enabled: bool = Field(alias="isEnabled")


async def _validated(model: type[Body], request: Request) -> Any:
    try:
        raw = await request.json()
    except ValueError as error:
        raise InvalidInput("body is not JSON", status=400) from error
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise InvalidInput(
            "invalid body",
            errors=[
                {"field": ".".join(str(part) for part in e["loc"]), "message": e["msg"]}
                for e in error.errors()
            ],
        ) from error


@router.get(BASE)
def list_rules(
    p: AdminPrincipal = require(Permission.DETECTION_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection([rule_json(rule) for rule in s.detection.list_rules(p.tenant_id)])


@router.post(BASE, status_code=201)
async def create_rule(
    request: Request,
    p: AdminPrincipal = require(Permission.DETECTION_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    body: RuleBody = await _validated(RuleBody, request)
    rule = s.detection.create_rule(p.tenant_id, body.query_condition.query_text)
    if not body.is_enabled:
        rule = s.detection.set_enabled(p.tenant_id, rule.info.id, False)
    return rule_json(rule)


@router.get(BASE + "/{rule_id}")
def get_rule(
    rule_id: str,
    p: AdminPrincipal = require(Permission.DETECTION_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return rule_json(s.detection.get_rule(p.tenant_id, rule_id))


@router.patch(BASE + "/{rule_id}")
async def patch_rule(
    rule_id: str,
    request: Request,
    p: AdminPrincipal = require(Permission.DETECTION_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    body: RulePatch = await _validated(RulePatch, request)
    return rule_json(s.detection.set_enabled(p.tenant_id, rule_id, body.is_enabled))


@router.delete(BASE + "/{rule_id}", status_code=204)
def delete_rule(
    rule_id: str,
    p: AdminPrincipal = require(Permission.DETECTION_WRITE),
    s: Services = Depends(services),
) -> None:
    s.detection.delete_rule(p.tenant_id, rule_id)
