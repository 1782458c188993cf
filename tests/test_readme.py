"""README.md's port table is the service table's."""

from __future__ import annotations

from pathlib import Path

from polyport.cli.tables import markdown_table

README = Path(__file__).parents[1] / "README.md"


def test_readme_port_table_is_current() -> None:
    text = README.read_text()
    start = text.index("-->\n", text.index("<!-- service table")) + 4
    end = text.index("<!-- end of service table -->")
    assert text[start:end] == markdown_table(), "run `polyport services --markdown` and paste it into README.md"
