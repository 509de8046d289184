"""Reconciliation: statements in, matched against our records in passes, breaks worked as cases."""
