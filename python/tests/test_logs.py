"""What a Python transform logs with ``logging`` shows as progress events, in
a quarantined document's entry and in a failed document's error."""

from __future__ import annotations

from typing import Any

import mongoshift
import pytest
from conftest import Project, users

LOGS = '''
import logging

from mongoshift import Migration, document_migration

log = logging.getLogger("tidy")


class Tidy(Migration):
    collection = "users"

    @document_migration(batch_size=10)
    def forward(self, doc):
        log.warning("checking %s", doc["_id"])
        if doc.get("poison"):
            log.error("poisoned")
            raise ValueError("cannot tidy")
        doc["ok"] = True
        return doc
'''


def test_logging_records_are_events_and_go_with_the_quarantined_document(
    project: Project,
) -> None:
    docs = users(5)
    docs[3]["poison"] = True
    project.db.users.insert_many(docs)
    project.write("20260101000000_tidy.py", LOGS)
    events: list[dict[str, Any]] = []
    mongoshift.up(
        project.uri, path=project.dir, quarantine=True, on_progress=events.append
    ).run()
    lines = [(e["document"], e["level"], e["message"]) for e in events if e["event"] == "guest_log"]
    assert lines == [
        ("0", "warn", "tidy: checking 0"),
        ("1", "warn", "tidy: checking 1"),
        ("2", "warn", "tidy: checking 2"),
        ("3", "warn", "tidy: checking 3"),
        ("3", "error", "tidy: poisoned"),
        ("4", "warn", "tidy: checking 4"),
    ]
    q = project.db.mongoshift_quarantine.find_one({})
    assert q is not None
    assert q["logs"] == [
        {"level": "warn", "message": "tidy: checking 3"},
        {"level": "error", "message": "tidy: poisoned"},
    ]


def test_a_failed_documents_error_ends_with_its_log_lines(project: Project) -> None:
    docs = users(5)
    docs[2]["poison"] = True
    project.db.users.insert_many(docs)
    project.write("20260101000000_tidy.py", LOGS)
    with pytest.raises(mongoshift.MigrationError) as e:
        mongoshift.up(project.uri, path=project.dir).run()
    assert str(e.value).endswith(
        "; the transform's log lines for it: [warn] tidy: checking 2 | [error] tidy: poisoned"
    ), str(e.value)
