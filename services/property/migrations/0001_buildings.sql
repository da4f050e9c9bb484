CREATE TABLE buildings (
    id          text        PRIMARY KEY,
    org_id      text        NOT NULL,
    name        text        NOT NULL,
    type        text        NOT NULL CHECK (type IN ('residential', 'commercial', 'mixed')),
    address     jsonb       NOT NULL,
    timezone    text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('active', 'inactive', 'maintenance')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX buildings_org_status ON buildings (org_id, status, id);
CREATE INDEX buildings_org_created ON buildings (org_id, created_at DESC, id);

SELECT enable_org_rls('buildings');
