"""The webhooks service's typed runtime: its settings and its own state."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends
from hearth_kit.runtime import Runtime, current_runtime
from hearth_kit.sealing import Sealer

from hearth_webhooks.config import Settings


@dataclass
class WebhooksState:
    """The box sealing endpoint secrets, and a flag set once every fan-out consumer has its positions
    (from then on nothing produced is missed, whatever `fanout_start` says)."""

    sealer: Sealer
    fanout_ready: asyncio.Event = field(default_factory=asyncio.Event)


WebhooksRuntime = Runtime[Settings, WebhooksState]
WebhooksDeps = Annotated[WebhooksRuntime, Depends(current_runtime)]
