"""Property use cases: each runs in the one transaction (`Tx`) the kit opens for a request or an event,
so its rows and its outbox events commit together."""
