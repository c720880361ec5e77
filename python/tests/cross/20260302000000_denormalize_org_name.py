"""copy each user's org name (orgs.name by org_id) into org_name; down restores the pre-images"""
from mongoshift import Lookup, Migration, iterative_migration


class DenormalizeOrgName(Migration):
    collection = "users"
    lookups = [
        Lookup(from_="orgs", local_field="org_id", foreign_field="_id", as_="org",
               projection={"name": 1}, limit=1)
    ]

    @iterative_migration(batch_size=25)
    def forward(self, batch):
        for user in batch:
            org = self.lookup(user, "org")
            if org:
                user["org_name"] = org[0]["name"]
        return batch
