"""Threat defense: machines, onboarding, telemetry ingest, alerts and machine risk."""
