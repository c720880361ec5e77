/* The reference transform in C, byte for byte the same as the Rust guest in
 * migrations/20260110090000_split_name: split `name` "First Last" into
 * `first_name`/`last_name` (where `name` was), set `status` to "active", parse
 * `signup` "YYYY-MM-DD" into a date (in place). `join_name` is its inverse. */
#include "mongoshift.h"

static ms_outcome split_name(ms_doc doc) {
    ms_writer out = ms_writer_new(doc.len + 48);
    int named = 0, status_seen = 0;
    const char *bad = 0;
    uint32_t bad_len = 0;
    ms_iter it = ms_iter_begin(doc);
    ms_elem e;
    while (ms_next(&it, &e)) {
        const char *s;
        uint32_t n;
        if (ms_key_is(&e, "name") && ms_as_str(&e, &s, &n)) {
            uint32_t sp = 0;
            while (sp < n && s[sp] != ' ') sp++;
            ms_append_str(&out, "first_name", s, sp);
            ms_append_str(&out, "last_name", sp < n ? s + sp + 1 : s, sp < n ? n - sp - 1 : 0);
            named = 1;
        } else if (ms_key_is(&e, "signup") && ms_as_str(&e, &s, &n)) {
            int64_t ms;
            if (ms_parse_ymd(s, n, &ms)) {
                ms_append_datetime(&out, "signup", ms);
            } else {
                bad = s;
                bad_len = n;
            }
        } else if (ms_key_is(&e, "status")) {
            ms_append_str(&out, "status", "active", 6);
            status_seen = 1;
        } else {
            ms_append(&out, &e);
        }
    }
    if (!named) return ms_keep();
    if (bad) {
        ms_text msg = ms_text_new();
        ms_text_add(&msg, "field `signup`: ");
        ms_text_add_quoted(&msg, bad, bad_len);
        ms_text_add(&msg, " is not a date in the form YYYY-MM-DD");
        return ms_fail_text(&msg);
    }
    if (!status_seen) ms_append_str(&out, "status", "active", 6);
    return ms_replace(ms_writer_finish(&out));
}

static ms_outcome join_name(ms_doc doc) {
    ms_elem first, last;
    const char *f, *l;
    uint32_t fn, ln;
    if (!ms_find(doc, "first_name", &first) || !ms_as_str(&first, &f, &fn) ||
        !ms_find(doc, "last_name", &last) || !ms_as_str(&last, &l, &ln))
        return ms_keep();
    ms_text name = ms_text_new();
    ms_text_add_n(&name, f, fn);
    if (ln) {
        ms_text_add(&name, " ");
        ms_text_add_n(&name, l, ln);
    }
    ms_writer out = ms_writer_new(doc.len);
    ms_iter it = ms_iter_begin(doc);
    ms_elem e;
    while (ms_next(&it, &e)) {
        int64_t ms;
        if (ms_key_is(&e, "first_name")) {
            ms_append_str(&out, "name", (const char *)name.buf, name.len);
        } else if (ms_key_is(&e, "last_name") || ms_key_is(&e, "status")) {
            /* dropped */
        } else if (ms_key_is(&e, "signup") && ms_as_datetime(&e, &ms)) {
            char ymd[24];
            ms_append_str(&out, "signup", ymd, ms_format_ymd(ms, ymd));
        } else {
            ms_append(&out, &e);
        }
    }
    return ms_replace(ms_writer_finish(&out));
}

MONGOSHIFT_TRANSFORM("split_name", split_name, join_name)
