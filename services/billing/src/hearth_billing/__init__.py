"""Hearth billing service."""
