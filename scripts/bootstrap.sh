# Sourced by run.sh and test.sh: make .venv with Polyport and its test tools installed.
# Needs Python 3.11+ with the venv module (Debian: python3-venv, installed here when run as root).
set -eu

PYTHON=${PYTHON:-python3}
cd "$(dirname "$0")"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "error: $PYTHON not found; install Python 3.11 or newer (Debian: apt install python3 python3-venv)" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "error: Polyport needs Python 3.11 or newer; $PYTHON is $("$PYTHON" -V 2>&1)" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing python3-venv (Debian's package for Python's venv module)" >&2
        apt-get install -y -qq python3-venv >/dev/null
    else
        echo "error: Python's venv module is missing; install it: sudo apt install python3-venv" >&2
        exit 1
    fi
fi

# Reinstall when pyproject.toml changed since the last install.
if [ ! -x .venv/bin/polyport ] || [ pyproject.toml -nt .venv/.installed ]; then
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
    touch .venv/.installed
fi
# Bytecode for Polyport's own modules, as a packaged install has: an editable install leaves it to the
# first import, and where PYTHONDONTWRITEBYTECODE is set every start compiled every module again (0.2 s
# of each start, and of each node the tests start). Quick when nothing changed.
.venv/bin/python -m compileall -q -j 0 src/polyport >/dev/null
