"""The lock vendor driver (seed 001)."""
