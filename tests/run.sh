#!/usr/bin/env bash
# The whole test suite, from a fresh clone: make a virtualenv, install Yokuryū with its test
# dependencies, then run pytest. Extra arguments go to pytest (e.g. tests/run.sh -k sparql).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ -z "${VIRTUAL_ENV:-}" ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e '.[test]'

# The browser tests drive Debian's Chromium; install it when missing and we may (root, apt).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium
fi

# pytest exits 5 when it collected no test: that is a failure here too.
exec python -m pytest "$@"
