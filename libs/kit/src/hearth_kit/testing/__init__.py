"""Test support shared by every service: real infrastructure, a token signer, a Kafka reader."""

from hearth_kit.testing.infra import Infra, start_infra
from hearth_kit.testing.kafka import EventReader
from hearth_kit.testing.services import ServiceHarness, service_harness

__all__ = ["EventReader", "Infra", "ServiceHarness", "service_harness", "start_infra"]
