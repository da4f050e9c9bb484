"""Use cases of the billing service: each runs in the `Tx` it is given (the caller's one transaction)."""
