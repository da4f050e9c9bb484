"""Run the lock vendor simulator: `python -m hearth_access.simulator` (port from HEARTH_LOCK_VENDOR_SIM_PORT)."""

from __future__ import annotations

import os

import uvicorn

from hearth_access.simulator.app import create_app


def run() -> None:
    """Entry point: serve the simulator until stopped."""
    port = int(os.environ.get("HEARTH_LOCK_VENDOR_SIM_PORT", "8190"))
    host = os.environ.get("HEARTH_LOCK_VENDOR_SIM_HOST", "127.0.0.1")
    uvicorn.run(create_app(), host=host, port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    run()
