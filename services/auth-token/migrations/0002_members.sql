-- Members: the org's people. A key may belong to one; the gateway's internal JWT then names the member.
CREATE TABLE members (
    id          text        PRIMARY KEY,
    org_id      text        NOT NULL REFERENCES orgs (org_id) ON DELETE RESTRICT,
    name        text        NOT NULL,
    email       text,
    phone       text,
    role        text        NOT NULL CHECK (role IN ('admin', 'manager', 'technician', 'leasing_agent',
                                                     'accountant', 'partner')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX members_org_created ON members (org_id, created_at DESC, id);
CREATE UNIQUE INDEX members_org_email ON members (org_id, lower(email)) WHERE email IS NOT NULL;
SELECT enable_org_rls('members');

ALTER TABLE api_keys ADD COLUMN member_id text REFERENCES members (id) ON DELETE RESTRICT;
