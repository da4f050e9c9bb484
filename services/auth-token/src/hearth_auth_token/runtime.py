"""The auth-token service's typed runtime: its settings and its signing-key ring."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from hearth_kit.runtime import Runtime, current_runtime

from hearth_auth_token.config import Settings
from hearth_auth_token.keys import KeyRing

AuthRuntime = Runtime[Settings, KeyRing]
AuthDeps = Annotated[AuthRuntime, Depends(current_runtime)]
