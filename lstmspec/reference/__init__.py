"""The reference implementation, derived from a spec's equations (the oracle)."""
