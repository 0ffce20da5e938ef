"""Shared vocabulary: ids, clock, errors, enums and domain events. Imports nothing of ours."""
