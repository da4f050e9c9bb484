"""Hearth auth-token service: orgs, API keys, token exchange, signing keys."""
