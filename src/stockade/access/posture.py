"""Device posture for the evaluator, gathered from device management and threat defense."""

from __future__ import annotations

from stockade.access.model import AlertSummary, DevicePosture
from stockade.core.errors import StockadeError
from stockade.mdm.model import ComplianceState, ManagedDevice, SettingState
from stockade.mdm.service import MdmService
from stockade.mtd.service import MtdService


class PostureSource:
    def __init__(self, mdm: MdmService, mtd: MtdService) -> None:
        self.mdm = mdm
        self.mtd = mtd

    def from_device_token(self, raw: str) -> tuple[str, ManagedDevice] | None:
        """The managed device a device token belongs to; None for an unknown or revoked one."""
        try:
            return self.mdm.authenticate_device(raw)
        except StockadeError:  # unknown or revoked; a store failure propagates (fail closed)
            return None

    def from_device_id(self, tenant_id: str, device_id: str) -> ManagedDevice | None:
        """The managed device by directory device id (what an identity provider knows)."""
        return self.mdm.device_by_aad_id(tenant_id, device_id)

    def posture(self, tenant_id: str, device: ManagedDevice) -> DevicePosture:
        compliant = device.compliance_state in (
            ComplianceState.COMPLIANT,
            ComplianceState.IN_GRACE_PERIOD,
        )
        settings: list[dict[str, str | None]] = []
        alerts: tuple[AlertSummary, ...] = ()
        if not compliant and device.compliance is not None:
            for policy in device.compliance.policies:
                for s in policy.settings:
                    if s.state in (SettingState.NONCOMPLIANT, SettingState.ERROR):
                        settings.append(
                            {
                                "policy": policy.display_name,
                                "setting": s.setting,
                                "expected": s.expected,
                                "actual": s.actual,
                                "reason": s.reason,
                            }
                        )
            # only a denial needs the alerts behind the threat level
            alerts = tuple(
                AlertSummary(a.id, a.title, a.severity.value)
                for a in self.mtd.active_alerts_for_device(tenant_id, device.azure_ad_device_id)
            )
        return DevicePosture(
            device_id=device.azure_ad_device_id,
            display_name=device.device_name,
            platform=device.platform.value,
            is_compliant=compliant,
            trust_type=device.join_type.trust_type if device.join_type else "Workplace",
            operating_system_version=device.os_version,
            compliance_state=device.compliance_state.value,
            noncompliant_settings=tuple(settings),
            threat_level=device.threat_level.value if device.threat_level else None,
            active_alerts=alerts,
        )
