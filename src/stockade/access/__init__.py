"""Conditional access: policies, the evaluator, forward auth and the sign-in log."""
