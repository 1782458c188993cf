"""`python -m polyport` is the `polyport` command."""

from polyport.cli.main import main

main()
