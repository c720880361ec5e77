"""move users.addresses[i] into `addresses` (with user_id): the benchmark's
Python transform, forward only, in batches of 1,000"""
from mongoshift import Migration, iterative_migration


class MoveAddresses(Migration):
    collection = "users"
    outputs = ["addresses"]

    @iterative_migration(batch_size=1000)
    def forward(self, batch):
        for user in batch:
            addresses = user.pop("addresses", None)
            for i, a in enumerate(addresses or []):
                self.emit("addresses", {"_id": f"{user['_id']}-{i}", "user_id": user["_id"],
                                        "i": i, **a}, source=user)
        return batch
