"""Facts the billing service publishes on `billing.events`."""
