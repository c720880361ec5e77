/* The cross-collection reference transform in C (contract version 2), byte
 * for byte the same as the Rust guest in migrations/20260301000000_move_addresses:
 * each `users.addresses[i]` becomes a document of `addresses`,
 * {_id: "<user _id>-<i>", user_id: <user _id>, i, ...the address's fields},
 * and the user is replaced without `addresses`. `gather_addresses` is its
 * inverse: it reads a user's address documents through the manifest's lookup,
 * puts them back in order of `i` and deletes them. */
#include "mongoshift.h"

#define ADDRESSES "addresses"

/* Fields of a moved address that are the move's own. */
static const char *const OWN[3] = {"_id", "user_id", "i"};

static int is_own(const ms_elem *e) {
    for (int k = 0; k < 3; k++)
        if (ms_key_is(e, OWN[k])) return 1;
    return 0;
}

/* The user's `_id` as the prefix of its addresses' `_id`s; 0 for a type that
 * cannot name them. */
static int id_text(const ms_elem *id, ms_text *out) {
    const char *s;
    uint32_t n;
    switch (id->type) {
    case MS_OBJECT_ID: ms_text_add_hex(out, id->value, 12); return 1;
    case MS_STRING: ms_as_str(id, &s, &n); ms_text_add_n(out, s, n); return 1;
    case MS_INT32: ms_text_add_i64(out, (int32_t)ms_u32(id->value)); return 1;
    case MS_INT64: ms_text_add_i64(out, ms_i64(id->value)); return 1;
    default: return 0;
    }
}

static ms_outcome move_addresses(ms_doc user, ms_cx *cx) {
    ms_elem addresses, id;
    ms_doc list;
    if (!ms_find(user, "addresses", &addresses)) return ms_keep();
    if (!ms_as_doc(&addresses, &list) || addresses.type != MS_ARRAY) {
        ms_text msg = ms_text_new();
        ms_text_add(&msg, "field `addresses`: ");
        ms_text_add(&msg, ms_type_name(addresses.type));
        ms_text_add(&msg, ", not an array");
        return ms_fail_text(&msg);
    }
    if (list.len <= 5) return ms_keep();
    ms_text prefix = ms_text_new();
    if (!ms_find(user, "_id", &id)) id.type = MS_NULL;
    if (!id_text(&id, &prefix)) {
        ms_text msg = ms_text_new();
        ms_text_add(&msg, "field `_id`: a ");
        ms_text_add(&msg, ms_type_name(id.type));
        ms_text_add(&msg, " _id cannot name the address documents");
        return ms_fail_text(&msg);
    }
    ms_iter it = ms_iter_begin(list);
    ms_elem a;
    for (int32_t i = 0; ms_next(&it, &a); i++) {
        ms_doc address;
        if (a.type != MS_DOCUMENT || !ms_as_doc(&a, &address)) {
            ms_text msg = ms_text_new();
            ms_text_add(&msg, "field `addresses.");
            ms_text_add_i64(&msg, i);
            ms_text_add(&msg, "`: not a document");
            return ms_fail_text(&msg);
        }
        for (int k = 0; k < 3; k++) {
            ms_elem own;
            if (ms_find(address, OWN[k], &own)) {
                ms_text msg = ms_text_new();
                ms_text_add(&msg, "field `addresses.");
                ms_text_add_i64(&msg, i);
                ms_text_add(&msg, ".");
                ms_text_add(&msg, OWN[k]);
                ms_text_add(&msg, "`: the moved document uses this name itself");
                return ms_fail_text(&msg);
            }
        }
        ms_text moved_id = ms_text_new();
        ms_text_add_n(&moved_id, (const char *)prefix.buf, prefix.len);
        ms_text_add(&moved_id, "-");
        ms_text_add_i64(&moved_id, i);
        ms_writer moved = ms_writer_new(address.len + moved_id.len + id.value_len + 48);
        ms_append_str(&moved, "_id", (const char *)moved_id.buf, moved_id.len);
        ms_append_as(&moved, "user_id", &id);
        ms_append_int32(&moved, "i", i);
        ms_append_all(&moved, address);
        ms_insert(cx, ADDRESSES, ms_writer_finish(&moved));
    }
    ms_writer out = ms_writer_new(user.len);
    it = ms_iter_begin(user);
    ms_elem e;
    while (ms_next(&it, &e))
        if (!ms_key_is(&e, "addresses")) ms_append(&out, &e);
    return ms_replace(ms_writer_finish(&out));
}

/* A moved address's `i`, where an address without an int32 `i` sorts last
 * (as the Rust guest's `unwrap_or(i32::MAX)`). */
static int32_t order_of(ms_doc d) {
    ms_elem i;
    if (!ms_find(d, "i", &i) || i.type != MS_INT32) return 0x7fffffff;
    return (int32_t)ms_u32(i.value);
}

/* Puts a user's address documents back into `addresses`, in order, and
 * deletes them. */
static ms_outcome gather_addresses(ms_doc user, ms_cx *cx) {
    uint32_t n = 0;
    ms_doc d;
    ms_iter it = ms_lookup(cx, ADDRESSES);
    while (ms_next_doc(&it, &d)) n++;
    if (n == 0) return ms_keep();
    ms_elem had;
    if (ms_find(user, "addresses", &had)) {
        ms_text msg = ms_text_new();
        ms_text_add(&msg, "field `addresses`: the user has it already, and ");
        ms_text_add_i64(&msg, n);
        ms_text_add(&msg, " address documents too; remove one or the other");
        return ms_fail_text(&msg);
    }
    ms_doc *moved = (ms_doc *)ms_alloc(n * (uint32_t)sizeof(ms_doc));
    uint32_t total = 0;
    it = ms_lookup(cx, ADDRESSES);
    for (uint32_t k = 0; ms_next_doc(&it, &d); k++) {
        /* Insertion sort: stable, as the Rust guest's sort_by_key. */
        uint32_t j = k;
        for (; j > 0 && order_of(moved[j - 1]) > order_of(d); j--) moved[j] = moved[j - 1];
        moved[j] = d;
        total += d.len + 16;
    }
    ms_writer list = ms_writer_new(total + 8);
    for (uint32_t k = 0; k < n; k++) {
        ms_elem id;
        if (!ms_find(moved[k], "_id", &id)) return ms_fail("an address document has no _id");
        ms_writer back = ms_writer_new(moved[k].len);
        ms_iter fields = ms_iter_begin(moved[k]);
        ms_elem e;
        while (ms_next(&fields, &e))
            if (!is_own(&e)) ms_append(&back, &e);
        ms_delete_id(cx, ADDRESSES, &id);
        ms_text key = ms_text_new();
        ms_text_add_i64(&key, k);
        ms_text_add_n(&key, "", 1); /* NUL-terminated, for a key */
        ms_append_doc(&list, (const char *)key.buf, ms_writer_finish(&back));
    }
    ms_writer out = ms_writer_new(user.len + total + 32);
    ms_append_all(&out, user);
    ms_append_array(&out, "addresses", ms_writer_finish(&list));
    return ms_replace(ms_writer_finish(&out));
}

MONGOSHIFT_TRANSFORM_V2("move_addresses", move_addresses, gather_addresses)
