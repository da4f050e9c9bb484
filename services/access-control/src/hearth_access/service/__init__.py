"""Use cases of the access-control service: one transaction each, outbox rows with the change."""
