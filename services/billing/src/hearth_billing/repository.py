"""All SQL of the billing service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

Row = asyncpg.Record

# --- projections from property.events -------------------------------------------------------------


async def upsert_building(conn: asyncpg.Connection, *, building_id: str, org_id: str, timezone: str) -> None:
    await conn.execute(
        "INSERT INTO buildings (id, org_id, timezone) VALUES ($1, $2, $3)"
        " ON CONFLICT (id) DO UPDATE SET timezone = excluded.timezone", building_id, org_id, timezone)


async def building_timezone(conn: asyncpg.Connection, building_id: str) -> str | None:
    tz: str | None = await conn.fetchval("SELECT timezone FROM buildings WHERE id = $1", building_id)
    return tz


_ACCOUNT = ("a.id, a.org_id, a.unit_id, a.building_id, a.resident_ids, a.currency, a.rent, a.deposit, a.due_day,"
            " a.start_date, a.end_date, a.terminated_on, a.status, a.next_period, a.next_post_on,"
            " a.deposit_posted, a.credit, coalesce(b.timezone, 'UTC') AS timezone")
_FROM_ACCOUNT = "lease_accounts a LEFT JOIN buildings b ON b.id = a.building_id"


async def upsert_account(conn: asyncpg.Connection, row: dict[str, Any]) -> None:
    """Insert a lease account or refresh its terms (what was posted stays)."""
    await conn.execute(
        "INSERT INTO lease_accounts (id, org_id, unit_id, building_id, resident_ids, currency, rent, deposit, due_day,"
        " start_date, end_date, terminated_on, status)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        " ON CONFLICT (id) DO UPDATE SET unit_id = excluded.unit_id, building_id = excluded.building_id,"
        " resident_ids = excluded.resident_ids, rent = excluded.rent, deposit = excluded.deposit,"
        " due_day = excluded.due_day, start_date = excluded.start_date, end_date = excluded.end_date,"
        " terminated_on = excluded.terminated_on, status = excluded.status, updated_at = now()",
        row["id"], row["org_id"], row["unit_id"], row["building_id"], row["resident_ids"], row["currency"],
        row["rent"], row["deposit"], row["due_day"], row["start_date"], row["end_date"], row["terminated_on"],
        row["status"])


async def get_account(conn: asyncpg.Connection, lease_id: str, *, for_update: bool = False) -> Row | None:
    lock = " FOR UPDATE OF a" if for_update else ""
    return await conn.fetchrow(f"SELECT {_ACCOUNT} FROM {_FROM_ACCOUNT} WHERE a.id = $1{lock}", lease_id)


async def accounts_of_resident(conn: asyncpg.Connection, resident_id: str) -> list[Row]:
    """A resident's lease accounts, the running one first, then the latest start."""
    return list(await conn.fetch(
        f"SELECT {_ACCOUNT} FROM {_FROM_ACCOUNT} WHERE a.resident_ids @> ARRAY[$1::text]"
        " ORDER BY (a.status = 'active') DESC, a.start_date DESC, a.id", resident_id))


async def due_accounts(conn: asyncpg.Connection, *, horizon: date, limit: int) -> list[Row]:
    """Accounts with a posting whose day may have come (every org: the rent job's system transaction)."""
    return list(await conn.fetch(
        f"SELECT {_ACCOUNT} FROM {_FROM_ACCOUNT} WHERE a.next_post_on <= $1"
        " ORDER BY a.next_post_on, a.id LIMIT $2 FOR UPDATE OF a SKIP LOCKED", horizon, limit))


async def set_schedule(conn: asyncpg.Connection, rows: list[tuple[str, date | None, date | None, bool]]) -> None:
    """(lease id, next period, next post day, deposit posted) for many accounts in one statement."""
    if not rows:
        return
    await conn.execute(
        "UPDATE lease_accounts a SET next_period = t.np, next_post_on = t.npo, deposit_posted = t.dp"
        " FROM unnest($1::text[], $2::date[], $3::date[], $4::bool[]) AS t(id, np, npo, dp) WHERE a.id = t.id",
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])


# --- charges --------------------------------------------------------------------------------------

_CHARGE = ("c.id, c.org_id, c.lease_id, c.kind, c.amount, c.currency, c.due_date, c.period, c.description, c.status,"
           " c.amount_paid, c.scheduled, c.for_charge, c.voided_at, c.void_reason, c.created_at")


async def insert_charges(conn: asyncpg.Connection, rows: list[dict[str, Any]]) -> list[Row]:
    """Insert charges; a scheduled one already posted (same lease+period, deposit, or fee for a charge) is
    skipped. Returns the rows actually inserted."""
    if not rows:
        return []
    cols = ("id", "org_id", "lease_id", "kind", "amount", "currency", "due_date", "period", "description",
            "scheduled", "for_charge")
    return list(await conn.fetch(
        f"INSERT INTO charges ({', '.join(cols)})"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::text[],"
        " $7::date[], $8::date[], $9::text[], $10::bool[], $11::text[])"
        f" ON CONFLICT DO NOTHING RETURNING {_CHARGE.replace('c.', '')}",
        *[[r.get(c) for r in rows] for c in cols]))


async def get_charge(conn: asyncpg.Connection, charge_id: str) -> Row | None:
    return await conn.fetchrow(f"SELECT {_CHARGE} FROM charges c WHERE c.id = $1", charge_id)


async def void_charge(conn: asyncpg.Connection, charge_id: str, *, reason: str | None) -> Row:
    out = await conn.fetchrow(
        "UPDATE charges SET status = 'void', voided_at = now(), void_reason = $2, amount_paid = 0 WHERE id = $1"
        f" RETURNING {_CHARGE.replace('c.', '')}", charge_id, reason)
    assert out is not None
    return out


async def rent_charges_from(conn: asyncpg.Connection, lease_id: str, period: date) -> list[Row]:
    """Scheduled rent posted for `period` and later (to credit back after an early end)."""
    return list(await conn.fetch(
        f"SELECT {_CHARGE} FROM charges c WHERE c.lease_id = $1 AND c.kind = 'rent' AND c.scheduled"
        " AND c.status <> 'void' AND c.period >= $2 ORDER BY c.period", lease_id, period))


async def list_charges(conn: asyncpg.Connection, *, org_id: str, lease_id: str | None, status: str | None,
                       kind: str | None, building_id: str | None, due_from: date | None, due_to: date | None,
                       limit: int, offset: int) -> tuple[list[Row], int]:
    where = (
        "WHERE c.org_id = $1 AND ($2::text IS NULL OR c.lease_id = $2) AND ($3::text IS NULL OR c.status = $3)"
        " AND ($4::text IS NULL OR c.kind = $4) AND ($5::date IS NULL OR c.due_date >= $5)"
        " AND ($6::date IS NULL OR c.due_date <= $6)"
        " AND ($7::text IS NULL OR c.lease_id IN"
        "   (SELECT id FROM lease_accounts WHERE org_id = $1 AND building_id = $7))"
    )
    args = [org_id, lease_id, status, kind, due_from, due_to, building_id]
    total = await conn.fetchval(f"SELECT count(*) FROM charges c {where}", *args)
    rows = await conn.fetch(f"SELECT {_CHARGE} FROM charges c {where} ORDER BY c.due_date DESC, c.id DESC"
                            " LIMIT $8 OFFSET $9", *args, limit, offset)
    return list(rows), int(total)


async def overdue_candidates(conn: asyncpg.Connection, *, horizon: date, limit: int) -> list[Row]:
    """Unpaid scheduled or manual rent past its org's grace days somewhere on earth (every org)."""
    return list(await conn.fetch(
        f"SELECT {_CHARGE}, coalesce(b.timezone, 'UTC') AS timezone, s.grace_days, s.late_fee_enabled,"
        " s.late_fee_type, s.late_fee_flat, s.late_fee_percent, s.late_fee_cap"
        " FROM charges c JOIN lease_accounts a ON a.id = c.lease_id LEFT JOIN buildings b ON b.id = a.building_id"
        " LEFT JOIN billing_settings s ON s.org_id = c.org_id"
        " WHERE c.kind = 'rent' AND NOT c.overdue_seen AND c.status IN ('open', 'partially_paid')"
        " AND c.due_date + coalesce(s.grace_days, 5) < $1"
        " ORDER BY c.due_date, c.id LIMIT $2 FOR UPDATE OF c SKIP LOCKED", horizon, limit))


async def mark_overdue_seen(conn: asyncpg.Connection, charge_ids: list[str]) -> None:
    await conn.execute("UPDATE charges SET overdue_seen = true WHERE id = ANY($1::text[])", charge_ids)


# --- allocation -----------------------------------------------------------------------------------


async def allocation_inputs(conn: asyncpg.Connection, lease_id: str) -> tuple[list[Row], list[Row], list[Row]]:
    """Live charges/credits, completed payments, and the current allocations of one lease."""
    charges = await conn.fetch(
        "SELECT id, kind, amount, amount_paid, status, due_date, created_at FROM charges"
        " WHERE lease_id = $1 AND status <> 'void' ORDER BY due_date, created_at, id", lease_id)
    payments = await conn.fetch(
        "SELECT id, amount, received_at FROM payments WHERE lease_id = $1 AND status = 'completed'"
        " ORDER BY received_at, id", lease_id)
    allocations = await conn.fetch("SELECT source_id, charge_id, amount FROM allocations WHERE lease_id = $1",
                                   lease_id)
    return list(charges), list(payments), list(allocations)


async def replace_allocations(conn: asyncpg.Connection, *, org_id: str, lease_id: str,
                              removed: list[tuple[str, str]], upserts: list[tuple[str, str, Decimal]]) -> None:
    if removed:
        await conn.execute(
            "DELETE FROM allocations a USING unnest($1::text[], $2::text[]) AS t(s, c)"
            " WHERE a.source_id = t.s AND a.charge_id = t.c", [r[0] for r in removed], [r[1] for r in removed])
    if upserts:
        await conn.execute(
            "INSERT INTO allocations (org_id, lease_id, source_id, charge_id, amount)"
            " SELECT $1, $2, s, c, a FROM unnest($3::text[], $4::text[], $5::numeric[]) AS t(s, c, a)"
            " ON CONFLICT (source_id, charge_id) DO UPDATE SET amount = excluded.amount",
            org_id, lease_id, [u[0] for u in upserts], [u[1] for u in upserts], [u[2] for u in upserts])


async def set_charge_payments(conn: asyncpg.Connection, rows: list[tuple[str, Decimal, str]]) -> None:
    if rows:
        await conn.execute(
            "UPDATE charges c SET amount_paid = t.p, status = t.s"
            " FROM unnest($1::text[], $2::numeric[], $3::text[]) AS t(id, p, s) WHERE c.id = t.id",
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


async def set_credit(conn: asyncpg.Connection, lease_id: str, credit: Decimal) -> None:
    await conn.execute("UPDATE lease_accounts SET credit = $2 WHERE id = $1 AND credit <> $2", lease_id, credit)


async def open_charges_for_new_funds(conn: asyncpg.Connection, lease_id: str, *, at: datetime,
                                     source_id: str) -> tuple[bool, list[Row]]:
    """(whether any other money of the lease comes after a source at (`at`, `source_id`) in allocation
    order, the lease's open charges oldest first) in one round trip: what paying only the new money needs."""
    rows = await conn.fetch(
        "SELECT l.later, c.id, c.amount, c.amount_paid, c.due_date FROM (SELECT"
        "   EXISTS (SELECT 1 FROM payments p WHERE p.lease_id = $1 AND p.status = 'completed'"
        "           AND (p.received_at, p.id) > ($2, $3))"
        "   OR EXISTS (SELECT 1 FROM charges k WHERE k.lease_id = $1 AND k.kind = 'credit' AND k.status <> 'void'"
        "              AND (k.created_at, k.id) > ($2, $3)) AS later) l"
        " LEFT JOIN LATERAL (SELECT id, amount, amount_paid, due_date, created_at FROM charges"
        "   WHERE lease_id = $1 AND kind <> 'credit' AND status IN ('open', 'partially_paid')) c ON true"
        " ORDER BY c.due_date, c.created_at, c.id", lease_id, at, source_id)
    return bool(rows[0]["later"]), [r for r in rows if r["id"] is not None]


async def apply_funds(conn: asyncpg.Connection, *, org_id: str, lease_id: str, source_id: str,
                      paid: Sequence[tuple[str, Decimal, Decimal, str]], credit_added: Decimal) -> None:
    """Store what one new source paid, in one statement: its allocations, each charge's (amount paid,
    status), and the lease's credit."""
    await conn.execute(
        "WITH t AS (SELECT * FROM unnest($4::text[], $5::numeric[], $6::numeric[], $7::text[])"
        "   AS t(charge_id, amount, paid, status)),"
        " ins AS (INSERT INTO allocations (org_id, lease_id, source_id, charge_id, amount)"
        "   SELECT $1, $2, $3, charge_id, amount FROM t),"
        " upd AS (UPDATE charges c SET amount_paid = t.paid, status = t.status FROM t WHERE c.id = t.charge_id)"
        " UPDATE lease_accounts SET credit = credit + $8::numeric WHERE id = $2 AND $8::numeric <> 0",
        org_id, lease_id, source_id, [p[0] for p in paid], [p[1] for p in paid], [p[2] for p in paid],
        [p[3] for p in paid], credit_added)


async def allocations_of(conn: asyncpg.Connection, source_id: str) -> list[Row]:
    return list(await conn.fetch(
        "SELECT a.source_id, a.charge_id, a.amount, c.currency FROM allocations a JOIN charges c ON c.id = a.charge_id"
        " WHERE a.source_id = $1 ORDER BY c.due_date, c.created_at", source_id))


# --- payments -------------------------------------------------------------------------------------

_PAYMENT = ("p.id, p.org_id, p.lease_id, p.resident_id, p.building_id, p.amount, p.currency, p.method, p.status,"
            " p.received_at, p.reference, p.memo, p.completed_at, p.reversed_at, p.reversal_reason, p.nsf_charge_id,"
            " p.created_at")


async def insert_payment(conn: asyncpg.Connection, row: dict[str, Any], *,
                         entry: dict[str, Any] | None = None) -> Row:
    """Insert a payment and, when given, its ledger row (a completed payment), in one round trip."""
    out = await conn.fetchrow(
        "WITH p AS (INSERT INTO payments (id, org_id, lease_id, resident_id, building_id, amount, currency, method,"
        " status, received_at, reference, memo, completed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
        f" $12, CASE WHEN $9 = 'completed' THEN now() END) RETURNING {_PAYMENT.replace('p.', '')}),"
        " e AS (INSERT INTO ledger_entries (org_id, lease_id, entry_type, ref_id, kind, amount, currency,"
        "   occurred_on, description)"
        "   SELECT org_id, lease_id, 'payment', id, method, -amount, currency, $13::date, $14::text FROM p"
        "   WHERE $13::date IS NOT NULL)"
        " SELECT * FROM p",
        row["id"], row["org_id"], row["lease_id"], row["resident_id"], row["building_id"], row["amount"],
        row["currency"], row["method"], row["status"], row["received_at"], row["reference"], row["memo"],
        entry["occurred_on"] if entry else None, entry["description"] if entry else None)
    assert out is not None
    return out


async def get_payment(conn: asyncpg.Connection, payment_id: str, *, for_update: bool = False) -> Row | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT {_PAYMENT} FROM payments p WHERE p.id = $1{lock}", payment_id)


async def set_payment_status(conn: asyncpg.Connection, payment_id: str, *, status: str, reason: str | None = None,
                             nsf_charge_id: str | None = None) -> Row:
    out = await conn.fetchrow(
        "UPDATE payments SET status = $2,"
        " completed_at = CASE WHEN $2 = 'completed' THEN now() ELSE completed_at END,"
        " reversed_at = CASE WHEN $2 = 'reversed' THEN now() ELSE reversed_at END,"
        " reversal_reason = coalesce($3, reversal_reason), nsf_charge_id = coalesce($4, nsf_charge_id)"
        f" WHERE id = $1 RETURNING {_PAYMENT.replace('p.', '')}", payment_id, status, reason, nsf_charge_id)
    assert out is not None
    return out


async def list_payments(conn: asyncpg.Connection, *, org_id: str, received_from: datetime | None,
                        received_before: datetime | None, status: str | None, building_id: str | None,
                        resident_id: str | None, lease_id: str | None, method: str | None, limit: int,
                        offset: int) -> tuple[list[Row], int]:
    where = (
        "WHERE p.org_id = $1 AND ($2::timestamptz IS NULL OR p.received_at >= $2)"
        " AND ($3::timestamptz IS NULL OR p.received_at < $3) AND ($4::text IS NULL OR p.status = $4)"
        " AND ($5::text IS NULL OR p.building_id = $5) AND ($6::text IS NULL OR p.resident_id = $6)"
        " AND ($7::text IS NULL OR p.lease_id = $7) AND ($8::text IS NULL OR p.method = $8)"
    )
    args = [org_id, received_from, received_before, status, building_id, resident_id, lease_id, method]
    total = await conn.fetchval(f"SELECT count(*) FROM payments p {where}", *args)
    rows = await conn.fetch(f"SELECT {_PAYMENT} FROM payments p {where} ORDER BY p.received_at DESC, p.id DESC"
                            " LIMIT $9 OFFSET $10", *args, limit, offset)
    return list(rows), int(total)


# --- ledger ---------------------------------------------------------------------------------------


async def add_entries(conn: asyncpg.Connection, rows: list[dict[str, Any]]) -> None:
    """Append ledger rows (signed amounts) in the given order."""
    if not rows:
        return
    cols = ("org_id", "lease_id", "entry_type", "ref_id", "kind", "amount", "currency", "occurred_on", "description")
    await conn.execute(
        f"INSERT INTO ledger_entries ({', '.join(cols)})"
        " SELECT o, l, t, r, k, a, c, d, x FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
        " $6::numeric[], $7::text[], $8::date[], $9::text[]) WITH ORDINALITY AS u(o, l, t, r, k, a, c, d, x, n)"
        " ORDER BY n", *[[r.get(c) for r in rows] for c in cols])


async def ledger_page(conn: asyncpg.Connection, lease_id: str, *, limit: int,
                      offset: int) -> tuple[list[Row], int, Decimal]:
    """Entries oldest first with the running balance, the count, and the balance after the last entry."""
    head = await conn.fetchrow(
        "SELECT count(*) AS n, coalesce(sum(amount), 0) AS balance FROM ledger_entries WHERE lease_id = $1", lease_id)
    assert head is not None
    rows = await conn.fetch(
        "SELECT id, entry_type, ref_id, kind, amount, currency, occurred_on, description,"
        " sum(amount) OVER (ORDER BY id) AS balance FROM ledger_entries WHERE lease_id = $1"
        " ORDER BY id LIMIT $2 OFFSET $3", lease_id, limit, offset)
    return list(rows), int(head["n"]), Decimal(head["balance"])


async def ledger_sum(conn: asyncpg.Connection, lease_id: str) -> Decimal:
    return Decimal(await conn.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE lease_id = $1", lease_id))


# --- balances -------------------------------------------------------------------------------------


async def balances(conn: asyncpg.Connection, *, org_id: str, building_id: str | None, resident_id: str | None,
                   today: date) -> list[Row]:
    """Per currency: what open charges still owe by aging bucket, the unapplied credit, and the lease count."""
    scope = ("a.org_id = $1 AND ($2::text IS NULL OR a.building_id = $2)"
             " AND ($3::text IS NULL OR a.resident_ids @> ARRAY[$3::text])")
    return list(await conn.fetch(
        "WITH acc AS (SELECT a.id, a.currency, a.credit FROM lease_accounts a WHERE " + scope + "),"
        " owed AS (SELECT c.currency, c.amount - c.amount_paid AS owed, $4::date - c.due_date AS late"
        "   FROM charges c JOIN acc ON acc.id = c.lease_id"
        "   WHERE c.kind <> 'credit' AND c.status IN ('open', 'partially_paid')),"
        " o AS (SELECT currency, coalesce(sum(owed), 0) AS owed,"
        "   coalesce(sum(owed) FILTER (WHERE late <= 30), 0) AS current,"
        "   coalesce(sum(owed) FILTER (WHERE late BETWEEN 31 AND 60), 0) AS days_31_60,"
        "   coalesce(sum(owed) FILTER (WHERE late BETWEEN 61 AND 90), 0) AS days_61_90,"
        "   coalesce(sum(owed) FILTER (WHERE late > 90), 0) AS days_over_90 FROM owed GROUP BY currency),"
        " cr AS (SELECT currency, sum(credit) AS credit, count(*) AS leases FROM acc GROUP BY currency)"
        " SELECT cr.currency, cr.leases, cr.credit, coalesce(o.owed, 0) AS owed, coalesce(o.current, 0) AS current,"
        " coalesce(o.days_31_60, 0) AS days_31_60, coalesce(o.days_61_90, 0) AS days_61_90,"
        " coalesce(o.days_over_90, 0) AS days_over_90 FROM cr LEFT JOIN o ON o.currency = cr.currency"
        " ORDER BY cr.currency", org_id, building_id, resident_id, today))


# --- settings -------------------------------------------------------------------------------------


async def get_settings(conn: asyncpg.Connection, org_id: str) -> Row | None:
    return await conn.fetchrow("SELECT * FROM billing_settings WHERE org_id = $1", org_id)


async def put_settings(conn: asyncpg.Connection, org_id: str, s: dict[str, Any]) -> Row:
    out = await conn.fetchrow(
        "INSERT INTO billing_settings (org_id, grace_days, late_fee_enabled, late_fee_type, late_fee_flat,"
        " late_fee_percent, late_fee_cap) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (org_id) DO UPDATE SET grace_days = excluded.grace_days,"
        " late_fee_enabled = excluded.late_fee_enabled, late_fee_type = excluded.late_fee_type,"
        " late_fee_flat = excluded.late_fee_flat, late_fee_percent = excluded.late_fee_percent,"
        " late_fee_cap = excluded.late_fee_cap, updated_at = now() RETURNING *",
        org_id, s["grace_days"], s["late_fee_enabled"], s["late_fee_type"], s["late_fee_flat"],
        s["late_fee_percent"], s["late_fee_cap"])
    assert out is not None
    return out
