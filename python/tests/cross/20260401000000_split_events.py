"""split events by type into events_click and events_view; down puts them back from pre-images"""
from mongoshift import Migration, document_migration

# Each type the split knows, and the collection its events move to.
SPLIT = {"click": "events_click", "view": "events_view"}


class SplitEvents(Migration):
    collection = "events"
    outputs = list(SPLIT.values())

    # No backward: it would read `events`, which the split leaves empty; down
    # restores from the pre-images the run keeps instead.
    @document_migration(batch_size=500)
    def forward(self, event):
        to = SPLIT.get(event.get("type"))
        if to is None:
            # Rather than leave it behind unnoticed.
            raise ValueError(f"field `type`: {event.get('type')!r} is not 'click' or 'view'")
        self.emit(to, event)
        return None
