"""How much a rewrite saves by following one collection instead of the database:
resumes a database-wide and a collection change stream over N inserts into
another collection of the same database, and times each until the next event.
Uses (and empties) the database `mongoshift_stream_scope`.

    python bench/python/stream_scope.py MONGODB_URI [N]
"""
import sys, time, pymongo
uri = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv) > 2 else 300000
c = pymongo.MongoClient(uri); db = c.mongoshift_stream_scope
db.users.drop(); db.shadow.drop()
db.users.insert_one({"_id": 0})
db.create_collection("shadow")
dbs = db.watch([{"$match": {"ns.coll": {"$in": ["users"]}}}], max_await_time_ms=20)
tok_db = dbs.resume_token
cols = db.users.watch(max_await_time_ms=20, show_expanded_events=True)
tok_col = cols.resume_token
dbs.close(); cols.close()
doc = {"name": "First Last", "email": "x@example.com", "age": 30, "signup": "2020-01-02", "address": {"street": "1 Main", "city": "Oslo", "zip": "0150"}, "tags": ["a", "b", "c"]}
t = time.time()
for i in range(0, n, 1000):
    db.shadow.insert_many([dict(doc, _id=j) for j in range(i, i + 1000)], ordered=False)
print(n, "inserts into another collection in", round(time.time() - t, 2), "s")
db.users.insert_one({"_id": "end"})
def drain(stream):
    t = time.time(); seen = 0
    while True:
        ev = stream.try_next()
        if ev is not None:
            seen += 1
            if ev.get("documentKey", {}).get("_id") == "end":
                return round(time.time() - t, 2), seen
t = time.time(); s = db.watch([{"$match": {"ns.coll": {"$in": ["users"]}}}], max_await_time_ms=20, resume_after=tok_db); opened = round(time.time() - t, 2); print("database stream: opened in", opened, "s, then (seconds, events) to the next event:", drain(s)); s.close()
t = time.time(); s = db.users.watch(max_await_time_ms=20, resume_after=tok_col, show_expanded_events=True); opened = round(time.time() - t, 2); print("collection stream: opened in", opened, "s, then (seconds, events) to the next event:", drain(s)); s.close()
