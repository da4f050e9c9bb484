"""Every event contract by its CloudEvents `type`, so consumers and the schema snapshot find them."""

from __future__ import annotations

from typing import TypeVar

from hearth_contracts.envelope import EventData

_M = TypeVar("_M", bound=type[EventData])

_REGISTRY: dict[str, type[EventData]] = {}


def register(model: _M) -> _M:
    """Class decorator: record a contract under its event type (each type once)."""
    if model.event_type in _REGISTRY:
        raise ValueError(f"event type registered twice: {model.event_type}")
    _REGISTRY[model.event_type] = model
    return model


def all_contracts() -> dict[str, type[EventData]]:
    """All registered contracts, importing every contract module first."""
    from hearth_contracts import (  # noqa: F401  (registration side effect)
        access,
        auth,
        billing,
        maintenance,
        property,
        telemetry,
        webhooks,
    )

    return dict(sorted(_REGISTRY.items()))
