from __future__ import annotations

import json
import logging

import pytest

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
