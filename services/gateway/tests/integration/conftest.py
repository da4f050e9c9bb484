"""Fixtures of the gateway's integration tests (defined in gateway_harness)."""

from gateway_harness import replicas, upstream

__all__ = ["replicas", "upstream"]
