"""Development secrets: generated once per platform, never committed, never used in prod.

`make up` keeps them in `.run/secrets.json`; under `docker compose up` every container shares one file on
a volume and starts through `python -m hearth_kit.devsecrets run <service> <ENV_PREFIX> -- <command>`,
which creates the file if it is missing (exactly once, even when containers race), puts the secrets that
service needs in its environment and runs the command. In prod, set the variables yourself instead.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from hearth_kit.auth import SigningKey, jwks


def _fernet_key() -> str:
    """32 random bytes, url-safe base64: the format Fernet (auth-token, webhooks) expects."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


# Generators of every secret the platform needs; a file written before a name existed gets it on load.
_GENERATED: dict[str, Any] = {
    "admin_key": lambda: "hk_admin_" + secrets.token_urlsafe(32),
    "auth_key_encryption_key": _fernet_key,
    "webhooks_secret_encryption_key": _fernet_key,
    "access_credentials_encryption_key": _fernet_key,
}


def generate() -> dict[str, Any]:
    """A fresh set of development secrets."""
    key = SigningKey.generate(f"gw-{secrets.token_hex(4)}")
    doc: dict[str, Any] = {name: make() for name, make in _GENERATED.items()}
    doc.update({"gateway_signing_key_pem": key.private_pem(), "gateway_signing_kid": key.kid, "db_passwords": {}})
    return doc


def load_or_create(path: Path) -> dict[str, Any]:
    """The secrets in `path`, created atomically (link of a finished temp file) if it does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        tmp.write_text(json.dumps(generate(), indent=2))
        tmp.chmod(0o600)
        with contextlib.suppress(FileExistsError):  # another process won the race: use its file
            os.link(tmp, path)
        tmp.unlink()
    doc = dict(json.loads(path.read_text()))
    missing = {name: make() for name, make in _GENERATED.items() if name not in doc}
    if missing:  # written by an older version: add the new secrets, keep the old ones
        doc.update(missing)
        path.write_text(json.dumps(doc, indent=2))
    return doc


def service_env(service: str, prefix: str, doc: dict[str, Any]) -> dict[str, str]:
    """The secret settings one service needs (besides its database password)."""
    gateway_key = SigningKey.from_pem(doc["gateway_signing_key_pem"], doc["gateway_signing_kid"])
    env = {f"{prefix}INTERNAL_JWKS": json.dumps(jwks(gateway_key))}
    if service == "auth-token":
        env[f"{prefix}ADMIN_KEY"] = doc["admin_key"]
        env[f"{prefix}KEY_ENCRYPTION_KEYS"] = json.dumps([doc["auth_key_encryption_key"]])
    elif service == "gateway":
        env[f"{prefix}ADMIN_KEY"] = doc["admin_key"]
        env[f"{prefix}SIGNING_KEY_PEM"] = doc["gateway_signing_key_pem"]
        env[f"{prefix}SIGNING_KID"] = doc["gateway_signing_kid"]
    elif service == "webhooks":
        env[f"{prefix}SECRET_ENCRYPTION_KEYS"] = json.dumps([doc["webhooks_secret_encryption_key"]])
    elif service == "access-control":
        env[f"{prefix}CREDENTIAL_KEYS"] = json.dumps([doc["access_credentials_encryption_key"]])
    return env


def _run(argv: list[str]) -> None:
    """`run <service> <ENV_PREFIX> -- command...`: exec the command with the service's secrets set."""
    if len(argv) < 4 or argv[0] != "run" or "--" not in argv:
        raise SystemExit("usage: python -m hearth_kit.devsecrets run <service> <ENV_PREFIX> -- <command...>")
    service, prefix = argv[1], argv[2]
    command = argv[argv.index("--") + 1:]
    path = Path(os.environ.get("HEARTH_DEV_SECRETS_FILE", "/secrets/secrets.json"))
    for _ in range(50):  # a racing container may have linked the file a moment ago
        try:
            doc = load_or_create(path)
            break
        except (json.JSONDecodeError, FileNotFoundError):
            time.sleep(0.1)
    else:
        raise SystemExit(f"could not read {path}")
    env = {**os.environ, **service_env(service, prefix, doc)}
    os.execvpe(command[0], command, env)  # noqa: S606 (the container's own command)


if __name__ == "__main__":
    _run(sys.argv[1:])
