"""The committed AsyncAPI document passes the official AsyncAPI parser (`@asyncapi/parser`, run by node).

`scripts/test.sh` installs the parser once (`npm ci` from the committed lock into a git-ignored
node_modules); without it this test fails and says how to install it, instead of skipping.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

PARSER_DIR = Path(__file__).parent / "asyncapi_parser"
DOCUMENT = Path(__file__).parents[1] / "asyncapi.json"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the AsyncAPI document cannot be checked by the official parser")
    if not (PARSER_DIR / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail(f"the AsyncAPI parser is not installed: run `npm ci` in {PARSER_DIR} (scripts/test.sh does)")
    return subprocess.run([node, "validate.mjs", str(path)], cwd=PARSER_DIR, capture_output=True, text=True,
                          timeout=120, check=False)


def test_official_parser_accepts_the_committed_document() -> None:
    result = _validate(DOCUMENT)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    doc = json.loads(DOCUMENT.read_text())
    assert summary["valid"] and summary["channels"] == len(doc["channels"])
    assert summary["operations"] == len(doc["operations"]) > 0


def test_official_parser_rejects_a_dangling_ref(tmp_path: Path) -> None:
    """The check can fail: the kind of defect the document once had (a `$ref` to `#/$defs/...`)."""
    doc = json.loads(DOCUMENT.read_text())
    message = next(iter(doc["components"]["messages"].values()))
    message["payload"]["properties"]["data"] = {"$ref": "#/$defs/Money"}
    broken = tmp_path / "asyncapi.json"
    broken.write_text(json.dumps(doc))
    result = _validate(broken)
    assert result.returncode == 1, result.stdout


def test_every_topic_has_its_dead_letter_channel_and_kafka_bindings() -> None:
    from hearth_contracts.topics import ALL_TOPICS, DEAD_LETTER_SUFFIX

    doc = json.loads(DOCUMENT.read_text())
    addresses = {c["address"]: c for c in doc["channels"].values()}
    for topic in ALL_TOPICS:
        assert addresses[topic.name]["bindings"]["kafka"]["partitions"] == topic.partitions
        assert topic.name + DEAD_LETTER_SUFFIX in addresses
    for message in doc["components"]["messages"].values():
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        assert message["headers"]["properties"]["content-type"]["const"] == "application/cloudevents+json"
    assert {s["protocol"] for s in doc["servers"].values()} == {"kafka"}
