"""The webhooks service's typed runtime: its settings and the box that seals endpoint secrets."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from hearth_kit.runtime import Runtime, current_runtime

from hearth_webhooks.config import Settings
from hearth_webhooks.sealing import SecretBox

WebhooksRuntime = Runtime[Settings, SecretBox]
WebhooksDeps = Annotated[WebhooksRuntime, Depends(current_runtime)]
