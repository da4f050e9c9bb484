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

ALTER TABLE buildings ENABLE ROW LEVEL SECURITY;
ALTER TABLE buildings FORCE ROW LEVEL SECURITY;
CREATE POLICY buildings_org ON buildings USING (
    org_id = current_setting('hearth.org_id', true) OR current_setting('hearth.system', true) = 'on');
