"""Route helpers (written once in the kit; re-exported for the property routes)."""

from hearth_kit.routes import IdempotencyKey, create_once, traceparent

__all__ = ["IdempotencyKey", "create_once", "traceparent"]
