from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from leadflow.logs import JsonFormatter, configure_logging
from leadflow.settings import Settings


def test_json_logs_are_one_object_per_line_with_extra_fields() -> None:
    record = logging.makeLogRecord(
        {
            "name": "leadflow.sync",
            "levelname": "INFO",
            "msg": "stored %d",
            "args": (3,),
            "mailbox": "info@rendetalje.dk",
        }
    )
    payload = json.loads(JsonFormatter().format(record))
    assert payload["message"] == "stored 3"
    assert payload["level"] == "info"
    assert payload["mailbox"] == "info@rendetalje.dk"


def test_configuring_twice_keeps_one_leadflow_handler(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(_env_file=None, log_format="json")  # type: ignore[call-arg]
    configure_logging(settings)
    configure_logging(settings)
    root = logging.getLogger()
    assert [h.get_name() for h in root.handlers].count("leadflow") == 1
    logging.getLogger("leadflow.test").warning("still captured")
    assert "still captured" in caplog.text


async def test_debug_logging_is_not_flooded_by_aiosqlite(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    configure_logging(Settings(_env_file=None, log_level="DEBUG"))  # type: ignore[call-arg]
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        with caplog.at_level(logging.DEBUG):
            async with engine.connect() as connection:
                for _ in range(3):
                    await connection.execute(text("SELECT 1"))
            logging.getLogger("leadflow.test").debug("ours")
    finally:
        await engine.dispose()
        configure_logging(Settings(_env_file=None))  # type: ignore[call-arg]
    assert [r.name for r in caplog.records if r.name.startswith("aiosqlite")] == []
    assert "ours" in caplog.text
