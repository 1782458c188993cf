"""The `polyport` command line."""
