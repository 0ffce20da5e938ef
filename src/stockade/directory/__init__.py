"""Tenants, users, groups, device registrations, admin API tokens and roles."""
