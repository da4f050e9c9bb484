"""Which vendor base URLs are accepted (no I/O)."""

from __future__ import annotations

import pytest
from hearth_access.service.vendors import check_base_url
from hearth_kit.errors import InvalidInput


@pytest.mark.parametrize(("url", "environment", "allow", "ok"), [
    ("https://api.aurmur.com", "prod", None, True),
    ("http://api.aurmur.com", "prod", None, False),  # prod: https only
    ("https://127.0.0.1:8190", "prod", None, False),  # prod: no loopback
    ("https://10.0.0.5", "prod", None, False),
    ("https://localhost", "prod", None, False),
    ("https://10.0.0.5", "prod", True, True),  # explicitly allowed
    ("http://127.0.0.1:8190", "dev", None, True),  # the local simulator
    ("http://[", "dev", None, False),
    ("ftp://x.test", "dev", None, False),
])
def test_base_urls(url: str, environment: str, allow: bool | None, ok: bool) -> None:
    if ok:
        check_base_url(url, environment=environment, allow_private=allow)
    else:
        with pytest.raises(InvalidInput):
            check_base_url(url, environment=environment, allow_private=allow)
