"""Hearth maintenance service: work orders with an enforced lifecycle, SLAs and self-opening requests."""
