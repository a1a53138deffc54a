from __future__ import annotations

import re
from pathlib import Path

from leadflow.settings import configuration_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_configuration_table_matches_the_settings_class() -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(
        r"<!-- settings-table:start -->\n(.*?)\n<!-- settings-table:end -->", text, re.DOTALL
    )
    assert match is not None, "README lacks the settings-table markers"
    assert match.group(1) == configuration_table(), (
        "README configuration table is stale: regenerate with `python -m leadflow.settings`"
    )
