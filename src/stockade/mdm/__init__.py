"""Device management: enrollment, check-in, profiles, compliance."""
