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

# pytest exits 5 when it collected no test: that is a failure here too.
exec python -m pytest "$@"
