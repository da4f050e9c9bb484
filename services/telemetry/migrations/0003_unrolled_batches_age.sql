-- When a batch's roll became owed: a row the writer never claims back would otherwise go unnoticed (its
-- readings stored but missing from rollups and last values). The maintenance pass reports the oldest.
ALTER TABLE unrolled_batches ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
