"""Alert episodes: rules evaluated on each written batch (in the writer's transaction), and the offline check.

Raised and cleared alerts go to the outbox in the same transaction as the episode state, so a writer
killed mid-batch and the redelivery that follows produce each raise and clear exactly once. Both run in a
transaction that crosses orgs; each event is emitted for its sensor's org (`Tx` per org, one connection).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
from hearth_contracts.telemetry import AlertCleared, AlertRaised
from hearth_kit.ids import new_id
from hearth_kit.logging import get_logger
from hearth_kit.tx import Tx

from hearth_telemetry import repository as repo
from hearth_telemetry.domain import EpisodeState, Rule, SensorRef, evaluate, from_us, to_us

if TYPE_CHECKING:
    from hearth_telemetry.runtime import TelemetryRuntime

log = get_logger(__name__)
OFFLINE = "offline"


def _rule(row: asyncpg.Record) -> Rule:
    return Rule(id=row["id"], org_id=row["org_id"], condition=row["condition"], threshold=row["threshold"],
                threshold_high=row["threshold_high"], for_seconds=row["for_seconds"], severity=row["severity"],
                sensor_id=row["sensor_id"], kind=row["kind"], building_id=row["building_id"])


def _common(alert_id: str, sensor: SensorRef, *, rule_id: str | None, severity: str, condition: str,
            threshold: float | None, value: float | None) -> dict[str, Any]:
    return {"alert_id": alert_id, "org_id": sensor.org_id, "rule_id": rule_id, "sensor_id": sensor.id,
            "sensor_kind": sensor.kind, "building_id": sensor.building_id, "unit_id": sensor.unit_id,
            "severity": severity, "condition": condition, "value": value, "threshold": threshold}


async def _raise(tx: Tx, sensor: SensorRef, *, rule_id: str | None, severity: str,
                 condition: str, threshold: float | None, value: float | None, raised_at: datetime) -> str:
    alert_id = new_id("alr")
    common = _common(alert_id, sensor, rule_id=rule_id, severity=severity, condition=condition,
                     threshold=threshold, value=value)
    await repo.insert_alert(tx.conn, {
        "id": alert_id, "org_id": sensor.org_id, "rule_id": rule_id, "sensor_id": sensor.id,
        "sensor_kind": sensor.kind, "building_id": sensor.building_id, "unit_id": sensor.unit_id,
        "severity": severity, "condition": condition, "threshold": threshold, "value": value, "state": "raised",
        "raised_at": raised_at})
    await tx.emit(AlertRaised(**common, raised_at=raised_at), subject=sensor.id)
    return alert_id


async def _clear(tx: Tx, sensor: SensorRef, alert_id: str, *, value: float | None,
                 cleared_at: datetime) -> None:
    row = await repo.clear_alert(tx.conn, alert_id, cleared_at=cleared_at, value=value)
    if row is None:
        return  # already cleared
    common = _common(alert_id, sensor, rule_id=row["rule_id"], severity=row["severity"],
                     condition=row["condition"], threshold=row["threshold"], value=value)
    await tx.emit(AlertCleared(**common, raised_at=row["raised_at"], cleared_at=cleared_at), subject=sensor.id)


async def evaluate_batch(conn: asyncpg.Connection, batch: dict[str, list[tuple[int, float]]],
                         sensors: dict[str, SensorRef], *, source: str) -> None:
    """Advance every (rule, sensor) episode the batch touches; clear offline alerts of sensors heard from.

    `conn` is the writer's open transaction (across orgs); events carry `source`."""
    def tx_of(sensor: SensorRef) -> Tx:
        return Tx(conn=conn, org_id=sensor.org_id, source=source)

    orgs = {sensors[s].org_id for s in batch}
    rules_by_org: dict[str, list[Rule]] = defaultdict(list)
    for rule_row in await repo.enabled_rules(conn, sorted(orgs)):
        rules_by_org[rule_row["org_id"]].append(_rule(rule_row))
    pairs = [(rule, sensors[sid]) for sid in batch for rule in rules_by_org.get(sensors[sid].org_id, ())
             if rule.applies_to(sensors[sid])]
    if pairs:
        states = {(r["rule_key"], r["sensor_id"]): r for r in
                  await repo.episode_states(conn, [(rule.id, s.id) for rule, s in pairs])}
        saved: list[tuple[Any, ...]] = []
        for rule, sensor in pairs:
            row = states.get((rule.id, sensor.id))
            state = EpisodeState()
            if row is not None:
                state = EpisodeState(last_ts=to_us(row["last_ts"]),
                                     pending_since=to_us(row["pending_since"]) if row["pending_since"] else None,
                                     active_alert_id=row["active_alert_id"],
                                     raised_at=to_us(row["raised_at"]) if row["raised_at"] else None)
            active = state.active_alert_id
            readings = sorted(batch[sensor.id])
            for change in evaluate(rule, state, readings):
                if change.action == "raise":
                    active = await _raise(tx_of(sensor), sensor, rule_id=rule.id, severity=rule.severity,
                                          condition=rule.condition, threshold=rule.threshold, value=change.value,
                                          raised_at=from_us(change.raised_at))
                elif active is not None:
                    await _clear(tx_of(sensor), sensor, active, value=change.value, cleared_at=from_us(change.ts))
                    active = None
            if row is None or state.last_ts != to_us(row["last_ts"]):
                saved.append((rule.id, sensor.id, sensor.org_id, from_us(state.last_ts or readings[-1][0]),
                              from_us(state.pending_since) if state.pending_since is not None else None,
                              active if state.active_alert_id is not None else None))
        await repo.save_episode_states(conn, saved)
    for alert in await repo.active_offline_alerts(conn, list(batch)):
        sensor = sensors[alert["sensor_id"]]
        latest = max(batch[sensor.id])
        await _clear(tx_of(sensor), sensor, alert["id"], value=latest[1], cleared_at=datetime.now(UTC))


async def offline_check_once(runtime: TelemetryRuntime) -> int:
    """Raise an `offline` alert for each active sensor silent longer than its window; returns how many."""
    settings = runtime.settings
    async with runtime.db.system_transaction() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext('telemetry-offline'))"):
            return 0  # another replica is on it
        rows = await repo.silent_sensors(conn, default_seconds=settings.offline_after_seconds)
        for row in rows:
            sensor = SensorRef(id=row["id"], org_id=row["org_id"], kind=row["kind"], building_id=row["building_id"],
                               unit_id=row["unit_id"])
            tx = Tx(conn=conn, org_id=sensor.org_id, source=runtime.source)
            await _raise(tx, sensor, rule_id=None, severity="warning", condition=OFFLINE, threshold=None,
                         value=None, raised_at=datetime.now(UTC))
    if rows:
        log.info("sensors went offline", count=len(rows))
    return len(rows)


async def offline_job(runtime: TelemetryRuntime) -> None:
    """Background job: the offline check, every `offline_check_seconds`."""
    settings = runtime.settings
    while True:
        await offline_check_once(runtime)
        await asyncio.sleep(settings.offline_check_seconds)
