"""Coverage-guided fuzzing of the wire parsers and framers (issue 12): `targets.py` says what each parser
promises for any bytes, `run.py` drives the targets under atheris (libFuzzer) within a time budget, and
`corpus/<target>/` holds the seeds (command lines and messages from the tests) and the crashers found.
docs/hardening.md records what was tried and what came of it."""
