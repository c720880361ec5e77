/*
 * mongoshift_v2.h: contract version 2 (guest-sdk/ABI.md): lookups in, outputs
 * to other collections out.
 * A part of mongoshift.h: include that, not this.
 */
#ifndef MONGOSHIFT_V2_H
#define MONGOSHIFT_V2_H

/* ---- contract version 2: lookups and outputs ----------------------------- */

/* One output: `op` (0 insert, 1 upsert, 2 delete) of `doc` to `coll`. */
typedef struct ms__output {
    uint8_t op;
    const uint8_t *coll;
    uint32_t coll_len;
    ms_doc doc;
    struct ms__output *next;
} ms__output;

/* What a version-2 transform sees of one input document besides the document
 * (its lookups) and what it writes besides its outcome (its outputs, in the
 * order emitted; dropped if the outcome is a fail, since a document that
 * fails writes nothing). */
typedef struct {
    ms_doc lookups;
    ms__output *first;
    ms__output *last;
} ms_cx;

/* The documents the lookup named `as` (its `as` in the manifest) matched:
 * walk them with ms_next_doc. None when it matched nothing (or the manifest
 * declares no such lookup).
 *
 *     ms_iter it = ms_lookup(cx, "addresses");
 *     ms_doc a;
 *     while (ms_next_doc(&it, &a)) { ... }
 */
static ms_iter ms_lookup(const ms_cx *cx, const char *as) {
    ms_elem e;
    ms_doc matches;
    if (!ms_find(cx->lookups, as, &e)) {
        ms_iter none = {0, 0};
        return none;
    }
    /* The host sends arrays of documents only: anything else is a bug. */
    if (e.type != MS_ARRAY || !ms_as_doc(&e, &matches)) __builtin_trap();
    return ms_iter_begin(matches);
}

/* The next document of a lookup, or 0 after the last. */
static int ms_next_doc(ms_iter *it, ms_doc *d) {
    ms_elem e;
    if (!ms_next(it, &e)) return 0;
    if (e.type != MS_DOCUMENT || !ms_as_doc(&e, d)) __builtin_trap();
    return 1;
}

static void ms__emit(ms_cx *cx, uint8_t op, const char *coll, ms_doc doc) {
    ms__output *o = (ms__output *)ms_alloc((uint32_t)sizeof(ms__output));
    uint32_t n = ms__strlen(coll);
    uint8_t *name = (uint8_t *)ms_alloc(n ? n : 1);
    ms__memcpy(name, coll, n);
    o->op = op;
    o->coll = name;
    o->coll_len = n;
    o->doc = doc;
    o->next = 0;
    if (cx->last) cx->last->next = o;
    else cx->first = o;
    cx->last = o;
}

/* Inserts `doc` (with an `_id`) into `coll` (`name` or `database.name`, one
 * of the manifest's `outputs`). */
static void ms_insert(ms_cx *cx, const char *coll, ms_doc doc) { ms__emit(cx, 0, coll, doc); }

/* Replaces the document of `coll` with `doc`'s `_id`, or inserts it. */
static void ms_upsert(ms_cx *cx, const char *coll, ms_doc doc) { ms__emit(cx, 1, coll, doc); }

/* Deletes the document of `coll` whose `_id` is the value of `id` (any
 * element: its key does not matter). */
static void ms_delete_id(ms_cx *cx, const char *coll, const ms_elem *id) {
    ms_writer w = ms_writer_new(id->value_len + 16);
    ms_append_as(&w, "_id", id);
    ms__emit(cx, 2, coll, ms_writer_finish(&w));
}

typedef ms_outcome (*ms_transform_v2_fn)(ms_doc, ms_cx *);

static uint32_t ms__run_v2(ms_transform_v2_fn f, uint32_t ptr, uint32_t len) {
    const uint8_t *batch = (const uint8_t *)(uintptr_t)ptr;
    uint32_t count = 0;
    for (uint32_t at = 0; at + 4 <= len; count++) {
        at += ms_u32(batch + at);          /* the document */
        if (at + 4 <= len) at += ms_u32(batch + at); /* its lookups */
    }
    ms_outcome *outs = (ms_outcome *)ms_alloc(count * (uint32_t)sizeof(ms_outcome));
    ms_cx *cxs = (ms_cx *)ms_alloc(count * (uint32_t)sizeof(ms_cx));
    uint32_t size = 8, i = 0;
    ms__at(-1);
    for (uint32_t at = 0; i < count; i++) {
        ms__at((int32_t)i);
        ms_doc d = {batch + at, ms_u32(batch + at)};
        at += d.len;
        ms_doc l = {batch + at, ms_u32(batch + at)};
        at += l.len;
        ms_cx *cx = &cxs[i];
        cx->lookups = l;
        cx->first = cx->last = 0;
        outs[i] = f(d, cx);
        if (outs[i].tag == 3) cx->first = 0;
        size += 9 + outs[i].len;
        for (ms__output *o = cx->first; o; o = o->next) size += 9 + o->coll_len + o->doc.len;
    }
    uint8_t *res = ms__result(size, count);
    uint8_t *p = res + 8;
    for (i = 0; i < count; i++) {
        p = ms__put_outcome(p, &outs[i]);
        uint8_t *k = p;
        uint32_t n = 0;
        p += 4;
        for (ms__output *o = cxs[i].first; o; o = o->next, n++) {
            *p = o->op;
            ms__set_u32(p + 1, o->coll_len);
            ms__memcpy(p + 5, o->coll, o->coll_len);
            p += 5 + o->coll_len;
            ms__set_u32(p, o->doc.len);
            ms__memcpy(p + 4, o->doc.data, o->doc.len);
            p += 4 + o->doc.len;
        }
        ms__set_u32(k, n);
    }
    return (uint32_t)(uintptr_t)res;
}

/* Exports contract version 2 for `forward` (and `backward`, or 0), each an
 * `ms_outcome f(ms_doc doc, ms_cx *cx)`: read lookups with ms_lookup, write
 * outputs with ms_insert / ms_upsert / ms_delete_id. Use it once per module,
 * instead of MONGOSHIFT_TRANSFORM. */
#define MONGOSHIFT_TRANSFORM_V2(name, forward, backward)                                \
    MS__EXPORTS(2, name, (backward) != 0, {                                             \
        ms_transform_v2_fn f = direction == 0 ? (forward) : (backward);                 \
        if (!f) __builtin_trap();                                                       \
        return ms__run_v2(f, ptr, len);                                                 \
    })

#endif /* MONGOSHIFT_V2_H */
