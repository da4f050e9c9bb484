"""Hearth telemetry: sensors, high-rate readings, downsampled history, a live stream and alerts."""
