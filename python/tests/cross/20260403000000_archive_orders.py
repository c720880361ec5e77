"""archive orders created before 2025 into archive_db.orders; down puts them back from pre-images"""
from datetime import datetime, timezone

from mongoshift import Migration, document_migration

# Another database of the same deployment: "database.collection".
ARCHIVE = "archive_db.orders"


class ArchiveOrders(Migration):
    collection = "orders"
    outputs = [ARCHIVE]
    # The cut-off: only these orders are read, and so archived.
    filter = {"created_at": {"$lt": datetime(2025, 1, 1, tzinfo=timezone.utc)}}

    @document_migration(batch_size=500)
    def forward(self, order):
        self.emit(ARCHIVE, order)
        return None
