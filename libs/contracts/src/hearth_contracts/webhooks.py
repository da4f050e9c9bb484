"""Facts the webhooks service publishes on `webhooks.events`, keyed by endpoint id."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from hearth_contracts.envelope import EventData
from hearth_contracts.registry import register
from hearth_contracts.topics import WEBHOOKS_EVENTS

DisableReason = Literal["gone", "failing"]


class _WebhooksEvent(EventData):
    topic = WEBHOOKS_EVENTS.name


@register
class WebhookEndpointDisabled(_WebhooksEvent):
    """The platform stopped delivering to an endpoint: it answered 410 Gone, or kept failing for days."""

    event_type = "hearth.webhook_endpoint.disabled.v1"

    endpoint_id: str = Field(description="Endpoint id, whep_...")
    org_id: str = Field(description="Owning org, org_...")
    url: str = Field(description="The endpoint's URL")
    reason: DisableReason = Field(description="gone (the endpoint answered 410) or failing (failed for too long)")
    failing_since: datetime | None = Field(default=None, description="First failure of the unbroken failing run")
    disabled_at: datetime = Field(description="When it was disabled (RFC 3339)")
