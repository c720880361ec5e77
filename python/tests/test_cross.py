"""Cross-collection Python migrations: outputs written by the engine in each
batch's transaction, lookups read per batch, both declared on the class."""

from __future__ import annotations

import shutil
from pathlib import Path

import mongoshift
import pytest
from bson.raw_bson import RawBSONDocument
from conftest import Project, users

CROSS = Path(__file__).parent / "cross"
MOVE = CROSS / "20260301000000_move_addresses.py"
DENORMALIZE = CROSS / "20260302000000_denormalize_org_name.py"


def seed(project: Project, n: int) -> None:
    """Users with an org (org 4 does not exist) and 0-3 addresses, last."""
    project.db.orgs.insert_many([{"_id": i, "name": f"Org {i}", "size": i * 10} for i in range(4)])
    project.db.users.insert_many(
        [
            {
                **u,
                "org_id": u["_id"] % 5,
                "addresses": [{"street": f"{u['_id']} Main St", "n": j} for j in range(u["_id"] % 4)],
            }
            for u in users(n)
        ]
    )


def raw(project: Project, collection: str) -> list[bytes]:
    coll = project.db.get_collection(collection).with_options(
        codec_options=project.db.codec_options.with_options(document_class=RawBSONDocument)
    )
    return [d.raw for d in coll.find({}, sort=[("_id", 1)])]


def test_move_addresses_and_denormalize_up_then_down_leave_every_collection_as_it_was(
    project: Project,
) -> None:
    seed(project, 100)
    before = {c: raw(project, c) for c in ("users", "orgs", "addresses")}
    shutil.copy(MOVE, project.dir / MOVE.name)
    shutil.copy(DENORMALIZE, project.dir / DENORMALIZE.name)

    plan = mongoshift.plan(project.uri, path=project.dir).run()
    move, denormalize = (m["steps"][0]["description"] for m in plan["migrations"])
    assert "; outputs to addresses; looks up `moved` in addresses (user_id = _id" in move
    assert "; looks up `org` in orgs (_id = org_id, at most 1)" in denormalize

    mongoshift.up(project.uri, path=project.dir).run()
    assert project.db.addresses.count_documents({}) == sum(i % 4 for i in range(100))
    assert project.db.addresses.find_one({"_id": "7:2"}) == {
        "_id": "7:2", "user_id": 7, "i": 2, "street": "7 Main St", "n": 2
    }
    assert project.db.users.count_documents({"addresses.0": {"$exists": True}}) == 0
    assert project.db.users.find_one({"_id": 7}, {"org_name": 1}) == {"_id": 7, "org_name": "Org 2"}
    assert project.db.users.count_documents({"org_name": {"$exists": False}}) == 20
    checkpoint = project.ledger("20260301000000_move_addresses")["checkpoint"]
    assert checkpoint["outputs"] == {"addresses": 150}

    mongoshift.down(project.uri, path=project.dir, steps=2).run()
    after = {c: raw(project, c) for c in ("users", "orgs", "addresses")}
    assert after == before


def test_without_backward_down_restores_outputs_from_pre_images(project: Project) -> None:
    seed(project, 30)
    before = raw(project, "users")
    text = MOVE.read_text()
    project.write(MOVE.name, text[: text.index("    @document_migration")])
    mongoshift.up(project.uri, path=project.dir).run()
    assert project.db.addresses.count_documents({}) == sum(i % 4 for i in range(30))
    assert project.ledger("20260301000000_move_addresses")["pre_images"]
    mongoshift.down(project.uri, path=project.dir).run()
    assert raw(project, "users") == before
    assert project.db.addresses.count_documents({}) == 0


def test_an_output_to_an_undeclared_collection_is_refused_with_nothing_written(
    project: Project,
) -> None:
    project.db.users.insert_many(users(12))
    before = raw(project, "users")
    shutil.copy(CROSS / "copy_to_undeclared.py", project.dir / "20260101000000_copy.py")
    with pytest.raises(mongoshift.MigrationError) as e:
        mongoshift.up(project.uri, path=project.dir).run()
    assert (
        "migration 20260101000000_copy: document _id 0: an output (upsert) to `copies`, "
        "which is not among the manifest's outputs ([elsewhere])"
    ) in str(e.value)
    assert project.db.copies.count_documents({}) == 0
    assert raw(project, "users") == before
    # Asked to run without transactions, it is refused before anything runs.
    with pytest.raises(mongoshift.MigrationError, match="it runs with transactions"):
        mongoshift.up(project.uri, path=project.dir, transactions="none").run()


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ('outputs = ["users"]', "Bad.outputs: `outputs` names `users`, the migration's own collection"),
        ('outputs = ["a", "a"]', "Bad.outputs: `outputs` names `a` twice"),
        ('outputs = ["mongoshift_ledger"]', "Bad.outputs: `outputs`: `mongoshift_ledger` is reserved"),
        ("outputs = \"addresses\"", "Bad.outputs must be a list of collection names (str)"),
        (
            'lookups = [Lookup(from_="orgs", local_field="org_id", foreign_field="_id", as_="o.x")]',
            "Bad.lookups[0]: `as` is a key of the lookups document, without dots",
        ),
        (
            'lookups = [Lookup(from_="orgs", local_field="a", foreign_field="_id", as_="o", limit=0)]',
            "Bad.lookups[0]: `limit` must be at least 1, not 0",
        ),
        (
            'lookups = [Lookup(from_="a$b", local_field="a", foreign_field="_id", as_="o")]',
            "Bad.lookups[0]: `from`: `a$b` is not a collection name",
        ),
        (
            'lookups = [Lookup(from_="a", local_field="a", foreign_field="_id", as_="o"),'
            ' Lookup(from_="b", local_field="b", foreign_field="_id", as_="o")]',
            'Bad.lookups[1]: two lookups give their matches `as = "o"`',
        ),
        ('lookups = [{"from": "orgs"}]', "Bad.lookups[0] must be a mongoshift.Lookup, not dict"),
    ],
)
def test_a_bad_declaration_names_the_file_and_the_field(
    project: Project, declaration: str, message: str
) -> None:
    project.db.users.insert_many(users(3))
    path = project.write(
        "20260101000000_bad.py",
        "from mongoshift import Lookup, Migration, document_migration\n\n\n"
        f'class Bad(Migration):\n    collection = "users"\n    {declaration}\n\n'
        "    @document_migration()\n    def forward(self, user):\n        return user\n",
    )
    with pytest.raises(mongoshift.MigrationError) as e:
        mongoshift.up(project.uri, path=project.dir).run()
    assert f"python migration 20260101000000_bad: {path}: {message}" in str(e.value)
    assert project.db.mongoshift_ledger.find_one({"state": "applied"}) is None


NO_SOURCE = '''
from mongoshift import Migration, iterative_migration


class Copy(Migration):
    collection = "users"
    outputs = ["copies"]

    @iterative_migration(batch_size=5)
    def forward(self, batch):
        for user in batch:
            self.emit("copies", {"_id": user["_id"]})
        return batch
'''


def test_a_batch_step_names_the_input_of_each_output(project: Project) -> None:
    project.db.users.insert_many(users(4))
    project.write("20260101000000_copy.py", NO_SOURCE)
    with pytest.raises(mongoshift.TransformError, match="pass source=doc"):
        mongoshift.up(project.uri, path=project.dir).run()
    assert project.db.copies.count_documents({}) == 0


def test_a_batch_step_emits_for_the_input_it_names(project: Project) -> None:
    project.db.users.insert_many(users(4))
    project.write(
        "20260101000000_copy.py",
        NO_SOURCE.replace('{"_id": user["_id"]})', '{"_id": user["_id"]}, source=user)'),
    )
    mongoshift.up(project.uri, path=project.dir).run()
    assert sorted(d["_id"] for d in project.db.copies.find()) == [0, 1, 2, 3]


FAILS_AFTER_EMITTING = '''
from mongoshift import Migration, document_migration


class Move(Migration):
    collection = "users"
    outputs = ["addresses"]

    @document_migration(batch_size=16)
    def forward(self, user):
        for i, a in enumerate(user.pop("addresses")):
            self.emit("addresses", {"_id": f"{user['_id']}:{i}", "user_id": user["_id"], **a})
        if user["_id"] == 7:
            raise ValueError("user 7 cannot move")
        return user
'''


def test_a_document_that_fails_is_quarantined_with_none_of_its_outputs(project: Project) -> None:
    seed(project, 20)
    project.write("20260101000000_move.py", FAILS_AFTER_EMITTING)
    mongoshift.up(project.uri, path=project.dir, on_error="quarantine").run()
    assert project.db.addresses.count_documents({"user_id": 7}) == 0
    assert project.db.addresses.count_documents({}) == sum(i % 4 for i in range(20)) - 3
    assert project.db.users.count_documents({"addresses": {"$exists": True}}) == 1
    assert project.db.mongoshift_quarantine.count_documents({}) == 1


def test_a_dry_run_samples_a_cross_collection_step_without_writing(project: Project) -> None:
    seed(project, 20)
    before = raw(project, "users")
    shutil.copy(MOVE, project.dir / MOVE.name)
    report = mongoshift.up(project.uri, path=project.dir, dry_run=True, sample=5).run()
    assert report["migrations"][0]["sampled"] == 5, report
    assert raw(project, "users") == before
    assert project.db.addresses.count_documents({}) == 0
