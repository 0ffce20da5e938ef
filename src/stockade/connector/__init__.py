"""The MTD <-> MDM link: partner state, threat-level pushes, classic access policies."""
