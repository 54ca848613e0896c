#!/usr/bin/env bash
# The whole test suite, from a fresh clone. Extra arguments go to pytest, e.g.
#   bash tests/run.sh -m "not slow and not browser"    (the fast loop: in-process tests only)
#   bash tests/run.sh tests/test_cli.py -k query
# The tests get a virtualenv of their own, .venv-test (YOKURYU_TEST_VENV moves it): the Quick
# start's `pip install .` into .venv, and a server running from it, are never touched.
# Installation happens only when pyproject.toml changed since the last run; its output goes to
# .venv-test/install.log and is shown only if it fails. Installing Chromium for the browser
# tests is the CI script's business (.ci/run); without it those tests are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${YOKURYU_TEST_VENV:-.venv-test}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"

# Reinstall only when what decides the installation changed: pyproject.toml, Python, this path.
stamp="$VENV/.yokuryu-installed"
want="$( { cat pyproject.toml; "$VENV/bin/python" -V; pwd; } | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "tests/run.sh: installing Yokuryū and its test dependencies into $VENV (log: $VENV/install.log)" >&2
  if ! "$VENV/bin/python" -m pip install -e '.[test]' >"$VENV/install.log" 2>&1; then
    cat "$VENV/install.log" >&2
    echo "tests/run.sh: installation failed (full log above and in $VENV/install.log)" >&2
    exit 1
  fi
  echo "$want" >"$stamp"
fi

# The venv's bin first on PATH, so tests find its `yokuryu` console script.
export PATH="$PWD/$VENV/bin:$PATH" VIRTUAL_ENV="$PWD/$VENV"
# pytest exits 5 when it collected no test: that is a failure here too.
exec "$VENV/bin/python" -m pytest "$@"
