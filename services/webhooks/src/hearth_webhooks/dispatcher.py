"""Delivery workers: claim due deliveries, post them within each endpoint's limits, record what happened.

Any number of replicas may run this. A delivery is claimed with a row in `claims` that holds it for a
lease (its primary key, and the delivery rows locked with SKIP LOCKED, so two workers never take the same
one); the outcome is written in batches and ends the claim. A worker killed mid-delivery leaves the
delivery due again once the lease passes, and the next attempt carries the same webhook-id.

Limits (concurrency, rate) are per endpoint and hold across replicas (counted in Postgres when claiming),
and an endpoint at its limit is left out of the claim entirely, so a slow partner only ever holds its own
slots. A request that is over no longer takes a slot, even before its outcome is written.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from datetime import datetime

import asyncpg
from hearth_contracts.webhooks import WebhookEndpointDisabled
from hearth_kit.db import Database
from hearth_kit.ids import new_id
from hearth_kit.logging import get_logger
from hearth_kit.sealing import Sealer
from hearth_kit.tx import Tx
from prometheus_client import Counter, Histogram

from hearth_webhooks import domain, repository
from hearth_webhooks.config import Settings
from hearth_webhooks.repository import AttemptRow
from hearth_webhooks.runtime import WebhooksRuntime
from hearth_webhooks.sender import AttemptResult, Sender

log = get_logger(__name__)

ATTEMPTS = Counter("hearth_webhook_attempts_total", "Delivery attempts by outcome", ["outcome"])
ATTEMPT_SECONDS = Histogram("hearth_webhook_attempt_seconds", "Duration of delivery attempts")


class Dispatcher:
    """One replica's delivery loop."""

    def __init__(self, db: Database, settings: Settings, box: Sealer) -> None:
        self._db = db
        self._settings = settings
        self._box = box
        self._allowlist = domain.parse_networks(settings.ssrf_allowlist)
        self._sender = Sender(allowlist=self._allowlist, timeout_seconds=settings.request_timeout_seconds,
                              max_connections=settings.max_in_flight)
        self._wake = asyncio.Event()
        self._claimed: dict[str, asyncio.Task[None]] = {}
        self._results: asyncio.Queue[tuple[asyncpg.Record, AttemptResult]] = asyncio.Queue()
        # per endpoint: attempts of ours that are over but not recorded (their claims still stand)
        self._answered: collections.Counter[str] = collections.Counter()
        self._secrets: dict[str, str] = {}
        self._listener: asyncpg.Connection | None = None

    async def run(self) -> None:
        """Deliver until cancelled; then hand back what was claimed but not finished."""
        writer = asyncio.create_task(self._write_results(), name="webhook-results")
        try:
            while True:
                await self._ensure_listener()
                self._wake.clear()
                try:
                    full = await self._claim_and_send()
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("claiming deliveries failed; retrying", error=repr(exc))
                    await asyncio.sleep(1)
                    continue
                if not full:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._settings.poll_seconds)
                    # let completions and notifications gather, so one claim (five statements) serves them all
                    await asyncio.sleep(0.01)
        finally:
            await self._stop(writer)

    async def _ensure_listener(self) -> None:
        if self._listener is None or self._listener.is_closed():
            conn = await asyncpg.connect(self._db.dsn)
            await conn.add_listener(f"{self._db.schema}_deliveries", lambda *_: self._wake.set())
            self._listener = conn

    async def _stop(self, writer: asyncio.Task[None]) -> None:
        unfinished = list(self._claimed)
        for task in self._claimed.values():
            task.cancel()
        await asyncio.gather(*self._claimed.values(), return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._results.join(), timeout=5)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer
        if unfinished:  # due again at once instead of after the lease (a hard kill waits for the lease)
            with contextlib.suppress(Exception):
                async with self._db.system_transaction() as conn:
                    await repository.release(conn, unfinished)
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
        await self._sender.close()

    # --- claiming ---------------------------------------------------------------------------------------

    async def _claim_and_send(self) -> bool:
        """Claim what may be sent now; True when the claim was cut by the batch size (more may be due).

        Room per endpoint (concurrency, rate) is counted in Postgres under a lock on the endpoint's pacing
        row, so the limits hold across replicas; this replica adds only its own total (`max_in_flight`).
        """
        free = self._settings.max_in_flight - len(self._claimed)
        if free <= 0:
            return False
        limit = min(self._settings.claim_batch, free)
        default_cap = self._settings.default_max_concurrency
        rate_bound = False
        async with self._db.system_transaction() as conn:
            candidates = await repository.due_candidates(conn, per_endpoint=min(limit, 100), limit=limit,
                                                         default_concurrency=default_cap, answered=self._answered)
            if not candidates:
                return False
            unpaced = sorted({c.endpoint_id for c in candidates if c.unpaced})
            if unpaced:
                await repository.add_pacing(conn, unpaced)
            rooms = {r.endpoint_id: r for r in await repository.lock_room(
                conn, sorted({c.endpoint_id for c in candidates}), default_concurrency=default_cap,
                answered=self._answered)}
            picked: list[str] = []
            taken: dict[str, int] = collections.defaultdict(int)
            for c in candidates:
                room = rooms.get(c.endpoint_id)
                if room is None or taken[c.endpoint_id] >= room.slots:
                    continue  # another replica is claiming for it right now, or it is full
                if room.rate_left is not None and taken[c.endpoint_id] >= room.rate_left:
                    rate_bound = True
                    continue
                taken[c.endpoint_id] += 1
                picked.append(c.delivery_id)
            rows = await repository.claim(conn, delivery_ids=picked, lease_seconds=self._settings.lease_seconds) \
                if picked else []
            started: dict[str, int] = collections.defaultdict(int)
            for row in rows:
                if rooms[row["endpoint_id"]].rate_left is not None:
                    started[row["endpoint_id"]] += 1
            await repository.spend_rate(conn, started, {e for e in started if not rooms[e].window_open})
        for row in rows:
            self._claimed[row["id"]] = asyncio.create_task(self._deliver(row))
        if rate_bound:  # rows left behind by a rate window are due again when the next window opens
            asyncio.get_running_loop().call_later(0.2, self._wake.set)
        return len(candidates) >= limit and len(rows) > 0

    # --- sending ----------------------------------------------------------------------------------------

    def _open(self, sealed: str) -> str:
        secret = self._secrets.get(sealed)
        if secret is None:
            if len(self._secrets) > 10_000:
                self._secrets.clear()
            secret = self._secrets[sealed] = self._box.open(sealed)
        return secret

    async def _deliver(self, row: asyncpg.Record) -> None:
        try:
            secrets_ = [self._open(row["secret"])]
            if row["previous_secret"] is not None:
                secrets_.append(self._open(row["previous_secret"]))
            result = await self._sender.post(url=row["url"], msg_id=row["id"], sequence=row["sequence"],
                                             body=bytes(row["payload"]), secrets_=secrets_)
            ATTEMPT_SECONDS.observe(result.latency_ms / 1000)
            self._results.put_nowait((row, result))
            self._answered[row["endpoint_id"]] += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivery attempt crashed; it is retried after its lease", delivery_id=row["id"])
        finally:
            self._claimed.pop(row["id"], None)
            self._wake.set()

    # --- results ----------------------------------------------------------------------------------------

    async def _write_results(self) -> None:
        """Write outcomes in batches: whatever accumulated while the previous batch was being written."""
        while True:
            batch = [await self._results.get()]
            await asyncio.sleep(0.01)  # a few more outcomes per transaction; nobody waits on this write
            # (at most 500 per transaction: bigger id arrays tip the planner into scanning the whole table)
            while len(batch) < 500 and not self._results.empty():
                batch.append(self._results.get_nowait())
            delay = 0.2
            for tries in range(1, 11):
                try:
                    await self._record(batch)
                    break
                except (OSError, asyncpg.PostgresError) as exc:
                    # Rows not recorded stay claimed until their lease ends, then are attempted again.
                    log.warning("recording delivery outcomes failed", error=repr(exc), tries=tries)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5)
            for row, _ in batch:
                self._results.task_done()
                self._answered[row["endpoint_id"]] -= 1
            self._answered += collections.Counter()  # (drops the endpoints at zero)

    def _attempt_row(self, row: asyncpg.Record, result: AttemptResult) -> AttemptRow:
        outcome = domain.Outcome(result.status_code, result.retry_after)
        retry_in = None
        if outcome.succeeded:
            state = "succeeded"
        else:
            retry_in = domain.retry_delay(failures=row["failures"] + 1, schedule=self._settings.retry_schedule,
                                          jitter=self._settings.retry_jitter, outcome=outcome,
                                          max_retry_after=self._settings.max_retry_after_seconds)
            state = "failed" if retry_in is None else "pending"
        ATTEMPTS.labels(state).inc()
        return AttemptRow(new_id("atm"), row["id"], row["endpoint_id"], result.attempted_at, result.status_code,
                          result.latency_ms, result.excerpt, result.error, state, retry_in)

    async def _record(self, batch: list[tuple[asyncpg.Record, AttemptResult]]) -> None:
        rows = [self._attempt_row(row, result) for row, result in batch]
        healthy: set[str] = set()
        failing: dict[str, datetime] = {}
        gone: set[str] = set()
        for attempt in rows:  # in completion order: the last word on an endpoint wins
            if attempt.outcome == "succeeded":
                healthy.add(attempt.endpoint_id)
                failing.pop(attempt.endpoint_id, None)
            else:
                healthy.discard(attempt.endpoint_id)
                failing.setdefault(attempt.endpoint_id, attempt.attempted_at)
                if attempt.status_code == 410:
                    gone.add(attempt.endpoint_id)
        async with self._db.system_transaction() as conn:
            await repository.record_attempts(conn, rows)
            await repository.mark_endpoint_health(conn, healthy=sorted(healthy), failing=list(failing),
                                                  failing_since=list(failing.values()))
            disabled = []
            if gone:
                disabled += await repository.disable_endpoints(conn, endpoint_ids=sorted(gone), reason="gone")
            if failing:
                disabled += await repository.disable_endpoints(
                    conn, endpoint_ids=sorted(failing), reason="failing",
                    failing_for_seconds=self._settings.disable_after_seconds)
            tx = Tx(conn=conn, org_id="", source=self._settings.source)  # cross-org: each event names its org
            for endpoint in disabled:
                await _announce_disabled(tx, endpoint, reason="gone" if endpoint["id"] in gone else "failing")
        loop = asyncio.get_running_loop()
        for retry_in in {a.retry_in for a in rows if a.retry_in is not None and a.retry_in < 60}:
            loop.call_later(retry_in, self._wake.set)


async def _announce_disabled(tx: Tx, endpoint: asyncpg.Record, *, reason: str) -> None:
    log.warning("webhook endpoint disabled", endpoint_id=endpoint["id"], reason=reason)
    await tx.for_org(endpoint["org_id"]).emit(
        WebhookEndpointDisabled(endpoint_id=endpoint["id"], org_id=endpoint["org_id"], url=endpoint["url"],
                                reason=reason, failing_since=endpoint["failing_since"],
                                disabled_at=endpoint["updated_at"]), subject=endpoint["id"])


async def delivery_job(runtime: WebhooksRuntime) -> None:
    """Background job: this replica's dispatcher."""
    await Dispatcher(runtime.db, runtime.settings, runtime.state.sealer).run()
