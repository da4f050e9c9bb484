-- Batches whose raw readings are stored but not yet counted in the minute rollups, last values and alert
-- episodes (see writer.py). The writer stores raw readings at once (queryable) and rolls them up every
-- `writer_roll_ms`: a row here, written in the raw rows' transaction and deleted in the roll's, says which
-- Kafka records a roll still owes. A writer that dies in between leaves the row, and whoever is given those
-- records again rolls them up and deletes it. No org column: batches cross orgs, only the writer reads it.
CREATE TABLE unrolled_batches (
    topic           text    NOT NULL,
    kafka_partition integer NOT NULL,
    first_offset    bigint  NOT NULL,
    last_offset     bigint  NOT NULL,
    PRIMARY KEY (topic, kafka_partition, first_offset)
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
