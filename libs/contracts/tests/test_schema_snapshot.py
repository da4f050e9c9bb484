"""Every event's JSON schema is snapshotted: an incompatible change fails here.

Run with HEARTH_UPDATE_SNAPSHOTS=1 to accept an additive change deliberately.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hearth_contracts.registry import all_contracts

SNAPSHOT = Path(__file__).parent / "schemas.snapshot.json"


def current_schemas() -> dict[str, Any]:
    return {name: model.model_json_schema() for name, model in all_contracts().items()}


def _breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    """Changes a consumer of the old schema would break on: removed/retyped fields, new requirements."""
    problems: list[str] = []
    for key in ("type", "enum", "const", "format", "$ref"):
        if key in old and old.get(key) != new.get(key):
            if key == "enum" and set(old[key]) <= set(new.get(key, [])):
                continue  # adding enum values is additive
            problems.append(f"{path}: '{key}' changed {old.get(key)!r} -> {new.get(key)!r}")
    for field, sub in old.get("properties", {}).items():
        if field not in new.get("properties", {}):
            problems.append(f"{path}.{field}: removed")
        else:
            problems += _breaking_changes(sub, new["properties"][field], f"{path}.{field}")
    added_required = set(new.get("required", [])) - set(old.get("required", []))
    problems += [f"{path}.{f}: became required" for f in sorted(added_required)]
    for name, sub in old.get("$defs", {}).items():
        if name not in new.get("$defs", {}):
            problems.append(f"{path}/$defs/{name}: removed")
        else:
            problems += _breaking_changes(sub, new["$defs"][name], f"{path}/$defs/{name}")
    for key in ("anyOf", "items"):
        if key in old and old[key] != new.get(key):
            problems.append(f"{path}: '{key}' changed")
    return problems


def test_no_event_schema_changes_incompatibly() -> None:
    new = current_schemas()
    if os.environ.get("HEARTH_UPDATE_SNAPSHOTS") == "1" or not SNAPSHOT.exists():
        SNAPSHOT.write_text(json.dumps(new, indent=2, sort_keys=True) + "\n")
    old = json.loads(SNAPSHOT.read_text())
    problems: list[str] = []
    for event_type, schema in old.items():
        if event_type not in new:
            problems.append(f"{event_type}: event type removed")
            continue
        problems += [f"{event_type}{p}" for p in _breaking_changes(schema, new[event_type])]
    assert not problems, "incompatible contract changes:\n" + "\n".join(problems)
    missing = sorted(set(new) - set(old))
    assert not missing, f"new event types without a snapshot (rerun with HEARTH_UPDATE_SNAPSHOTS=1): {missing}"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"properties": {"a": {"type": "string"}}}, {"properties": {}}, ".a: removed"),
        ({"properties": {"a": {"type": "string"}}}, {"properties": {"a": {"type": "integer"}}}, "changed"),
        ({"required": []}, {"required": ["b"]}, ".b: became required"),
        ({"enum": ["x", "y"]}, {"enum": ["x"]}, "'enum' changed"),
    ],
)
def test_breaking_change_detector_catches(old: dict[str, Any], new: dict[str, Any], expected: str) -> None:
    assert any(expected in p for p in _breaking_changes(old, new))


def test_additive_changes_pass() -> None:
    old = {"properties": {"a": {"type": "string"}}, "required": ["a"], "enum": ["x"]}
    new = {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"], "enum": ["x", "y"]}
    assert _breaking_changes(old, new) == []


def test_committed_asyncapi_document_is_current() -> None:
    from hearth_contracts.asyncapi import build, render

    committed = Path(__file__).parents[1] / "asyncapi.json"
    hint = "regenerate: python -m hearth_contracts.asyncapi > libs/contracts/asyncapi.json"
    assert committed.read_text() == render(), hint
    doc = build()
    assert set(doc["components"]["messages"]) == {t.removeprefix("hearth.").replace(".", "_") for t in all_contracts()}
