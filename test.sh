#!/bin/sh
# Set up .venv and run the whole test suite: lint and types, every test on SQLite (and the network tests
# again on uvloop, with the tests' nodes of two worker processes: [node] workers = 2), then the store suite on PostgreSQL at $POLYPORT_TEST_PG_URL (default 127.0.0.1:5432,
# database test). Without a PostgreSQL server that part is skipped, loudly, unless POLYPORT_REQUIRE_PG=1.
# Extra arguments go to every pytest run (e.g. -x, -k name).
. "$(dirname "$0")/scripts/bootstrap.sh"

export POLYPORT_TEST_PG_URL=${POLYPORT_TEST_PG_URL:-postgresql://127.0.0.1:5432/test}
started=$(date +%s)

echo "== ruff and mypy"
.venv/bin/ruff check src tests bench
.venv/bin/mypy

echo "== all tests, SQLite store, asyncio loop"
POLYPORT_TEST_STORE=sqlite .venv/bin/pytest -n auto --dist loadscope -q -p no:cacheprovider -m "not processes" "$@"

# Apart: nodes of several worker processes take more than their core, and tests/stall bounds how long a
# session may wait on a node's loop.
echo "== nodes of several worker processes"
POLYPORT_TEST_STORE=sqlite .venv/bin/pytest -n auto --dist loadscope -q -p no:cacheprovider -m processes "$@"

echo "== network, node and protocol tests again on uvloop (the node's default loop), each node of two workers"
POLYPORT_TEST_LOOP=uvloop POLYPORT_TEST_WORKERS=2 .venv/bin/pytest -n auto --dist loadscope -q -p no:cacheprovider \
    tests/net tests/kernel tests/test_node.py tests/cliapi tests/smtp tests/queue \
    tests/imap tests/pop3 tests/web tests/interop "$@"

echo "== store suite, PostgreSQL store"
POLYPORT_TEST_STORE=postgresql .venv/bin/pytest -n auto --dist loadscope -q -p no:cacheprovider -m store -rs "$@"

# Coverage-guided fuzzing of the wire parsers and framers (tests/fuzz/run.py; docs/hardening.md), each target
# for POLYPORT_FUZZ_SECONDS, one per CPU at a time: about 2 minutes on 2 cores. 0 skips it. A broken contract
# fails the step, with the input saved under tests/fuzz/crashes/<target>/.
fuzz_seconds=${POLYPORT_FUZZ_SECONDS:-15}
if [ "$fuzz_seconds" -gt 0 ]; then
    echo "== fuzzing ($fuzz_seconds s per target)"
    .venv/bin/python -m tests.fuzz.run --seconds "$fuzz_seconds"
fi

echo "== all passed in $(( $(date +%s) - started )) s"
