"""Hearth event contracts: the single source of truth for what crosses Kafka."""
