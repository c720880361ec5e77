"""upsert a copy of each user into `copies`, which it does not declare"""
from mongoshift import Migration, document_migration


class Copy(Migration):
    collection = "users"
    outputs = ["elsewhere"]

    @document_migration(batch_size=5)
    def forward(self, user):
        self.upsert("copies", {"_id": user["_id"]})
        return user
