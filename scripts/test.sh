#!/usr/bin/env bash
# Installs everything the test suite needs into .venv, then runs the linters and every test
# (SQLite always; PostgreSQL on 127.0.0.1:5432 when it is reachable, which CI requires).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'

# Browser tests drive Debian's Chromium (Playwright's own browser download does not work here).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: chromium is not installed; browser tests will be skipped" >&2
  fi
fi

# Segment's own browser library, pinned, for the test that points it at our API.
if command -v npm >/dev/null 2>&1; then
  npm ci --prefix tests/e2e/js --no-audit --no-fund --loglevel=error
else
  echo "note: npm is not installed; the analytics.js browser test will be skipped" >&2
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache  # the layer rule of docs/architecture.md
.venv/bin/python -m pytest -n 2 -p no:cacheprovider "$@"
