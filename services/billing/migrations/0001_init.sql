-- Projection of property's buildings: only what billing needs (the time zone rent falls due in).
CREATE TABLE buildings (
    id        text PRIMARY KEY,
    org_id    text NOT NULL,
    timezone  text NOT NULL
);
SELECT enable_org_rls('buildings');

-- One account per lease, kept from property.events (event-carried state).
CREATE TABLE lease_accounts (
    id             text PRIMARY KEY,               -- the lease id
    org_id         text    NOT NULL,
    unit_id        text    NOT NULL,
    building_id    text    NOT NULL,
    resident_ids   text[]  NOT NULL,
    currency       text    NOT NULL,
    rent           numeric(18, 4) NOT NULL,
    deposit        numeric(18, 4) NOT NULL,
    due_day        int     NOT NULL CHECK (due_day BETWEEN 1 AND 31),
    start_date     date    NOT NULL,
    end_date       date,                           -- last day (inclusive); null = open-ended
    terminated_on  date,                           -- first day it no longer runs
    status         text    NOT NULL,
    -- the next rent period to post (first day of its month) and the local day it is posted on;
    -- null when nothing is left to post. The rent job looks only at rows whose day has come.
    next_period    date,
    next_post_on   date,
    deposit_posted boolean NOT NULL DEFAULT false,
    credit         numeric(18, 4) NOT NULL DEFAULT 0,  -- money received but not yet applied to a charge
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lease_accounts_next_post ON lease_accounts (next_post_on) WHERE next_post_on IS NOT NULL;
CREATE INDEX lease_accounts_building ON lease_accounts (org_id, building_id);
CREATE INDEX lease_accounts_residents ON lease_accounts USING gin (resident_ids);
SELECT enable_org_rls('lease_accounts');

-- Charges and credits on a lease's ledger. amount_paid/status are kept by re-allocation (oldest first).
CREATE TABLE charges (
    id           text PRIMARY KEY,
    org_id       text    NOT NULL,
    lease_id     text    NOT NULL REFERENCES lease_accounts (id),
    kind         text    NOT NULL CHECK (kind IN ('rent', 'deposit', 'late_fee', 'nsf_fee', 'utility', 'other', 'credit')),
    amount       numeric(18, 4) NOT NULL CHECK (amount > 0),
    currency     text    NOT NULL,
    due_date     date    NOT NULL,
    period       date,                            -- scheduled rent: first day of the month it is for
    description  text,
    status       text    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'partially_paid', 'paid', 'void', 'applied')),
    amount_paid  numeric(18, 4) NOT NULL DEFAULT 0,
    scheduled    boolean NOT NULL DEFAULT false,  -- posted by the rent job (not by a person)
    for_charge   text,                            -- the charge a late fee or a proration credit is for
    overdue_seen boolean NOT NULL DEFAULT false,  -- the late-fee job has handled this charge
    voided_at    timestamptz,
    void_reason  text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
-- Once per lease and period, once per lease deposit, once per late charge: whatever runs twice.
CREATE UNIQUE INDEX charges_rent_once ON charges (lease_id, period) WHERE kind = 'rent' AND scheduled;
CREATE UNIQUE INDEX charges_deposit_once ON charges (lease_id) WHERE kind = 'deposit' AND scheduled;
CREATE UNIQUE INDEX charges_for_charge_once ON charges (for_charge, kind) WHERE for_charge IS NOT NULL;
CREATE INDEX charges_lease ON charges (lease_id, due_date, created_at);
CREATE INDEX charges_org_due ON charges (org_id, due_date DESC, id);
CREATE INDEX charges_overdue ON charges (due_date) WHERE kind = 'rent' AND NOT overdue_seen AND status IN ('open', 'partially_paid');
SELECT enable_org_rls('charges');

CREATE TABLE payments (
    id              text PRIMARY KEY,
    org_id          text    NOT NULL,
    lease_id        text    NOT NULL REFERENCES lease_accounts (id),
    resident_id     text    NOT NULL,
    building_id     text    NOT NULL,
    amount          numeric(18, 4) NOT NULL CHECK (amount > 0),
    currency        text    NOT NULL,
    method          text    NOT NULL CHECK (method IN ('cash', 'cheque', 'bank_transfer', 'card')),
    status          text    NOT NULL CHECK (status IN ('pending', 'completed', 'failed', 'reversed')),
    received_at     timestamptz NOT NULL,
    reference       text,
    memo            text,
    completed_at    timestamptz,
    reversed_at     timestamptz,
    reversal_reason text,
    nsf_charge_id   text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_org_received ON payments (org_id, received_at DESC, id);
CREATE INDEX payments_lease ON payments (lease_id, received_at);
CREATE INDEX payments_resident ON payments (org_id, resident_id, received_at DESC);
CREATE INDEX payments_building ON payments (org_id, building_id, received_at DESC);
SELECT enable_org_rls('payments');

-- Which money paid which charge: sources are completed payments and credits, applied oldest first.
CREATE TABLE allocations (
    org_id     text NOT NULL,
    lease_id   text NOT NULL,
    source_id  text NOT NULL,                     -- pay_... or a credit's chg_...
    charge_id  text NOT NULL REFERENCES charges (id),
    amount     numeric(18, 4) NOT NULL CHECK (amount > 0),
    PRIMARY KEY (source_id, charge_id)
);
CREATE INDEX allocations_lease ON allocations (lease_id);
CREATE INDEX allocations_charge ON allocations (charge_id);
SELECT enable_org_rls('allocations');

-- The ledger: append-only, one signed row per fact (+ raises the balance, - lowers it).
CREATE TABLE ledger_entries (
    id          bigserial PRIMARY KEY,
    org_id      text    NOT NULL,
    lease_id    text    NOT NULL,
    entry_type  text    NOT NULL CHECK (entry_type IN ('charge', 'credit', 'void', 'payment', 'reversal')),
    ref_id      text    NOT NULL,                 -- chg_... or pay_...
    kind        text,                             -- the charge kind or payment method
    amount      numeric(18, 4) NOT NULL,
    currency    text    NOT NULL,
    occurred_on date    NOT NULL,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_lease ON ledger_entries (lease_id, id);
SELECT enable_org_rls('ledger_entries');

-- Late-fee policy per org; no row = no late fees, 5 grace days.
CREATE TABLE billing_settings (
    org_id             text PRIMARY KEY,
    grace_days         int     NOT NULL,
    late_fee_enabled   boolean NOT NULL,
    late_fee_type      text    NOT NULL CHECK (late_fee_type IN ('flat', 'percent')),
    late_fee_flat      numeric(18, 4),
    late_fee_percent   numeric(7, 4),
    late_fee_cap       numeric(18, 4),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
SELECT enable_org_rls('billing_settings');
