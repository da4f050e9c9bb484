-- Fixed-window request counters per API key; one row per key per window, shared by every replica.
CREATE TABLE rate_counters (
    key_id        text        NOT NULL,
    window_start  timestamptz NOT NULL,
    count         integer     NOT NULL,
    PRIMARY KEY (key_id, window_start)
);
CREATE INDEX rate_counters_window ON rate_counters (window_start);
