#!/usr/bin/env bash
# Install what a fresh machine lacks: uv (from PyPI) and the workspace venv (.venv) from uv.lock.
# uv is never allowed to download a Python: the machine's python3 (>= 3.11) is used.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never

if ! command -v uv >/dev/null 2>&1; then
  echo "[bootstrap] installing uv from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check uv || python3 -m pip install --quiet --user uv
  export PATH="$HOME/.local/bin:$PATH"
fi
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
uv sync --all-packages --frozen --python "$(command -v python3)" --quiet
