"""The reference device agent (`stockade-agent`): enrolls, checks in, reports facts, applies the
onboarding profile and ships NDJSON telemetry through an on-disk buffer."""
