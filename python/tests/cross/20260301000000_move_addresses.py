"""move users.addresses[i] into `addresses` (with user_id); backward gathers them back"""
from mongoshift import Lookup, Migration, document_migration, iterative_migration

# Added by forward to each address moved; dropped again by backward.
MOVED = ("_id", "user_id", "i")


class MoveAddresses(Migration):
    collection = "users"
    outputs = ["addresses"]
    # Backward reads each user's addresses back, in their original order.
    lookups = [
        Lookup(from_="addresses", local_field="_id", foreign_field="user_id", as_="moved",
               sort={"i": 1})
    ]

    @iterative_migration(batch_size=16)
    def forward(self, batch):
        for user in batch:
            addresses = user.get("addresses")
            if not isinstance(addresses, list) or not addresses:
                continue
            # `addresses` is the last field of a user: put back last, it
            # leaves the user as it was byte for byte.
            del user["addresses"]
            for i, a in enumerate(addresses):
                self.emit("addresses", {"_id": f"{user['_id']}:{i}", "user_id": user["_id"],
                                        "i": i, **a}, source=user)
        return batch

    @document_migration(batch_size=16)
    def backward(self, user):
        moved = self.lookup(user, "moved")
        if not moved:
            return user
        user["addresses"] = [{k: v for k, v in a.items() if k not in MOVED} for a in moved]
        for a in moved:
            self.delete("addresses", a["_id"])
        return user
