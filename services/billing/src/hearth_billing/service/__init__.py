"""Use cases of the billing service: one transaction each, outbox rows with the change."""
