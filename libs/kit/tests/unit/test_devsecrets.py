"""Development secrets: created once even when processes race, upgraded in place, handed out per service."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hearth_kit.auth import InternalTokenSigner, InternalTokenVerifier, Principal, SigningKey
from hearth_kit.devsecrets import load_or_create, service_env


def test_racing_creators_all_get_the_same_secrets(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    with ThreadPoolExecutor(8) as pool:
        docs = list(pool.map(lambda _: load_or_create(path), range(16)))
    assert all(d == docs[0] for d in docs)
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.json"]  # no temp files left


def test_an_older_file_keeps_its_secrets_and_gains_new_ones(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    doc = load_or_create(path)
    del doc["webhooks_secret_encryption_key"]
    path.write_text(json.dumps(doc))
    again = load_or_create(path)
    assert again["admin_key"] == doc["admin_key"]
    assert again["webhooks_secret_encryption_key"]


def test_services_trust_the_gateway_key_and_only_the_gateway_holds_it(tmp_path: Path) -> None:
    doc = load_or_create(tmp_path / "secrets.json")
    gateway = service_env("gateway", "HEARTH_GATEWAY_", doc)
    property_env = service_env("property", "HEARTH_PROPERTY_", doc)
    assert "HEARTH_PROPERTY_SIGNING_KEY_PEM" not in property_env and "HEARTH_PROPERTY_ADMIN_KEY" not in property_env
    signer = InternalTokenSigner(SigningKey.from_pem(gateway["HEARTH_GATEWAY_SIGNING_KEY_PEM"],
                                                     gateway["HEARTH_GATEWAY_SIGNING_KID"]))
    token = signer.mint(Principal(org_id="org_1", subject="key_1", role="admin"))
    verifier = InternalTokenVerifier(property_env["HEARTH_PROPERTY_INTERNAL_JWKS"], issuer="hearth-gateway",
                                     audience="hearth-internal")
    assert verifier.verify(token).org_id == "org_1"


def test_run_execs_the_command_with_the_services_secrets(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    out = subprocess.run(
        [sys.executable, "-m", "hearth_kit.devsecrets", "run", "auth-token", "HEARTH_AUTH_", "--", sys.executable,
         "-c", "import os; print(os.environ['HEARTH_AUTH_ADMIN_KEY'])"],
        env={"HEARTH_DEV_SECRETS_FILE": str(path), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
        check=True)
    assert out.stdout.strip() == json.loads(path.read_text())["admin_key"]
