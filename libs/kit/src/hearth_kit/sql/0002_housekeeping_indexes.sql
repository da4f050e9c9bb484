-- Housekeeping prunes old inbox rows and stored Idempotency-Key answers by age: index the ages.
CREATE INDEX IF NOT EXISTS inbox_processed_at ON inbox (processed_at);
CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at);
