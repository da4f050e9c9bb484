"""The webhooks service's typed runtime: its settings and the box that seals endpoint secrets."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from hearth_kit.runtime import Runtime, current_runtime
from hearth_kit.sealing import Sealer

from hearth_webhooks.config import Settings

WebhooksRuntime = Runtime[Settings, Sealer]
WebhooksDeps = Annotated[WebhooksRuntime, Depends(current_runtime)]
