"""A simulator of seed 001's lock vendor API, run as its own process (`make up`) and in tests."""

from hearth_access.simulator.app import create_app

__all__ = ["create_app"]
