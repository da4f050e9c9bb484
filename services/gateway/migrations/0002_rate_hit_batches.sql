-- Count a batch of calls for one key in one round trip and say which of them fit under the limit.
-- Concurrent calls for a hot key are grouped by the gateway (see counters.py); the row lock still
-- serialises every replica, so the limit stays exact. Returns the count before and after: the calls
-- numbered before+1 .. after were admitted, the rest of the batch was not (the counter stops at the limit).
CREATE FUNCTION rate_hit(p_key text, p_window timestamptz, p_limit integer, p_n integer)
RETURNS TABLE (before integer, after integer)
LANGUAGE plpgsql AS $$
DECLARE
    v integer;
BEGIN
    SELECT count INTO v FROM rate_counters WHERE key_id = p_key AND window_start = p_window FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO rate_counters (key_id, window_start, count) VALUES (p_key, p_window, 0)
        ON CONFLICT (key_id, window_start) DO NOTHING;
        SELECT count INTO v FROM rate_counters WHERE key_id = p_key AND window_start = p_window FOR UPDATE;
    END IF;
    IF v < p_limit THEN
        UPDATE rate_counters SET count = LEAST(v + p_n, p_limit) WHERE key_id = p_key AND window_start = p_window;
    END IF;
    RETURN QUERY SELECT v, GREATEST(v, LEAST(v + p_n, p_limit));
END
$$;
