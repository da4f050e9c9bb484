"""Hearth access-control service: locks, lock/unlock action attempts, access codes, a lock vendor driver."""
