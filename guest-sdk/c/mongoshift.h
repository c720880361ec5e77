/*
 * mongoshift.h: write a mongoshift transform in C, one function from document
 * to outcome. Single header, no libc, no imports (but `env.log` once ms_log is
 * used): the module it builds follows
 * the core-module contract of guest-sdk/ABI.md: version 1 through
 * MONGOSHIFT_TRANSFORM, version 2 (lookups in, outputs to other collections
 * out; see "contract version 2" below) through MONGOSHIFT_TRANSFORM_V2.
 *
 *     #include "mongoshift.h"
 *
 *     static ms_outcome forward(ms_doc doc) {
 *         ms_elem e;
 *         if (ms_find(doc, "status", &e)) return ms_keep();
 *         ms_writer w = ms_writer_new(doc.len + 32);
 *         ms_append_all(&w, doc);
 *         ms_append_str(&w, "status", "active", 6);
 *         return ms_replace(ms_writer_finish(&w));
 *     }
 *     MONGOSHIFT_TRANSFORM("add_status", forward, 0)
 *
 * Build (zig from PyPI `ziglang`, or clang with the wasm32 target):
 *     python3 -m ziglang cc -target wasm32-freestanding -O2 -Wl,--no-entry \
 *         -Wl,--export-dynamic -o transform.wasm transform.c
 * `mongoshift build` does this for a migration whose `build` folder holds *.c.
 *
 * Memory: everything (the input batch, documents written, messages, the
 * result) lives in one arena that is reset when the host hands over the next
 * batch, so a transform never frees anything.
 */
#ifndef MONGOSHIFT_H
#define MONGOSHIFT_H

#include <stddef.h>
#include <stdint.h>

/* ---- memory ---------------------------------------------------------- */

extern unsigned char __heap_base;
static uint32_t ms__top;

static void *ms__memcpy(void *dst, const void *src, size_t n) {
    return __builtin_memcpy(dst, src, n);
}

static inline int ms__ensure(uint32_t end) {
    uint32_t have = (uint32_t)__builtin_wasm_memory_size(0) * 65536u;
    if (end <= have) return 1;
    uint32_t pages = (end - have + 65535u) / 65536u;
    return __builtin_wasm_memory_grow(0, pages) != (size_t)-1;
}

/* `n` bytes aligned to 8 from the arena; traps when memory cannot grow. */
static void *ms_alloc(uint32_t n) {
    if (ms__top == 0) ms__top = ((uint32_t)(uintptr_t)&__heap_base + 7u) & ~7u;
    uint32_t p = ms__top;
    uint32_t end = p + ((n + 7u) & ~7u);
    if (end < p || !ms__ensure(end)) __builtin_trap();
    ms__top = end;
    return (void *)(uintptr_t)p;
}

/* ---- reading BSON ---------------------------------------------------- */

/* A BSON document: `len` bytes at `data`, starting with its int32 length. */
typedef struct {
    const uint8_t *data;
    uint32_t len;
} ms_doc;

/* BSON type tags. */
enum {
    MS_DOUBLE = 0x01, MS_STRING = 0x02, MS_DOCUMENT = 0x03, MS_ARRAY = 0x04,
    MS_BINARY = 0x05, MS_UNDEFINED = 0x06, MS_OBJECT_ID = 0x07, MS_BOOL = 0x08,
    MS_DATETIME = 0x09, MS_NULL = 0x0A, MS_REGEX = 0x0B, MS_DBPOINTER = 0x0C,
    MS_CODE = 0x0D, MS_SYMBOL = 0x0E, MS_CODE_W_SCOPE = 0x0F, MS_INT32 = 0x10,
    MS_TIMESTAMP = 0x11, MS_INT64 = 0x12, MS_DECIMAL128 = 0x13,
    MS_MIN_KEY = 0xFF, MS_MAX_KEY = 0x7F
};

/* One element of a document: its key, type and value bytes (as in BSON). */
typedef struct {
    const char *key;
    uint32_t key_len;
    uint8_t type;
    const uint8_t *value;
    uint32_t value_len;
} ms_elem;

typedef struct {
    const uint8_t *at;
    const uint8_t *end;
} ms_iter;

static inline uint32_t ms_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline int64_t ms_i64(const uint8_t *p) {
    return (int64_t)((uint64_t)ms_u32(p) | (uint64_t)ms_u32(p + 4) << 32);
}

static inline ms_iter ms_iter_begin(ms_doc d) {
    ms_iter it = {d.data + 4, d.data + d.len - 1};
    return it;
}

static uint32_t ms__cstr_len(const uint8_t *p, const uint8_t *end) {
    const uint8_t *s = p;
    while (p < end && *p) p++;
    return (uint32_t)(p - s);
}

/* The next element, or 0 at the end of the document. */
static int ms_next(ms_iter *it, ms_elem *e) {
    if (it->at >= it->end) return 0;
    const uint8_t *p = it->at;
    e->type = *p++;
    e->key = (const char *)p;
    e->key_len = ms__cstr_len(p, it->end);
    p += e->key_len + 1;
    e->value = p;
    uint32_t n;
    switch (e->type) {
    case MS_DOUBLE: case MS_DATETIME: case MS_TIMESTAMP: case MS_INT64: n = 8; break;
    case MS_STRING: case MS_CODE: case MS_SYMBOL: n = 4 + ms_u32(p); break;
    case MS_DOCUMENT: case MS_ARRAY: case MS_CODE_W_SCOPE: n = ms_u32(p); break;
    case MS_BINARY: n = 5 + ms_u32(p); break;
    case MS_OBJECT_ID: n = 12; break;
    case MS_BOOL: n = 1; break;
    case MS_INT32: n = 4; break;
    case MS_DECIMAL128: n = 16; break;
    case MS_REGEX: {
        uint32_t a = ms__cstr_len(p, it->end) + 1;
        n = a + ms__cstr_len(p + a, it->end) + 1;
        break;
    }
    case MS_DBPOINTER: n = 4 + ms_u32(p) + 12; break;
    default: n = 0; break; /* undefined, null, min key, max key */
    }
    e->value_len = n;
    it->at = p + n;
    return 1;
}

static inline int ms_key_is(const ms_elem *e, const char *key) {
    uint32_t i = 0;
    for (; i < e->key_len; i++)
        if (key[i] != e->key[i]) return 0;
    return key[i] == 0;
}

/* The first element named `key`; 0 when there is none. */
static int ms_find(ms_doc d, const char *key, ms_elem *out) {
    ms_iter it = ms_iter_begin(d);
    while (ms_next(&it, out))
        if (ms_key_is(out, key)) return 1;
    return 0;
}

/* A string element's UTF-8 bytes (without the NUL); 0 when not a string. */
static inline int ms_as_str(const ms_elem *e, const char **s, uint32_t *n) {
    if (e->type != MS_STRING) return 0;
    *n = ms_u32(e->value) - 1;
    *s = (const char *)e->value + 4;
    return 1;
}

/* A datetime element's milliseconds since the epoch; 0 when not a datetime. */
static inline int ms_as_datetime(const ms_elem *e, int64_t *ms) {
    if (e->type != MS_DATETIME) return 0;
    *ms = ms_i64(e->value);
    return 1;
}

/* A sub-document or array element as a document; 0 otherwise. */
static inline int ms_as_doc(const ms_elem *e, ms_doc *d) {
    if (e->type != MS_DOCUMENT && e->type != MS_ARRAY) return 0;
    d->data = e->value;
    d->len = e->value_len;
    return 1;
}

/* ---- writing BSON ---------------------------------------------------- */

/* Builds one document in the arena, growing as needed. */
typedef struct {
    uint8_t *buf;
    uint32_t len;
    uint32_t cap;
} ms_writer;

static ms_writer ms_writer_new(uint32_t capacity) {
    ms_writer w;
    w.cap = capacity < 16 ? 16 : capacity;
    w.buf = (uint8_t *)ms_alloc(w.cap);
    w.len = 4;
    return w;
}

static void ms__reserve(ms_writer *w, uint32_t more) {
    if (w->len + more <= w->cap) return;
    uint32_t cap = w->cap * 2;
    if (cap < w->len + more) cap = w->len + more;
    if ((uint32_t)(uintptr_t)(w->buf + ((w->cap + 7u) & ~7u)) == ms__top) {
        /* The last thing allocated: grow in place. */
        uint32_t end = (uint32_t)(uintptr_t)w->buf + ((cap + 7u) & ~7u);
        if (!ms__ensure(end)) __builtin_trap();
        ms__top = end;
    } else {
        uint8_t *b = (uint8_t *)ms_alloc(cap);
        ms__memcpy(b, w->buf, w->len);
        w->buf = b;
    }
    w->cap = cap;
}

static inline void ms__put(ms_writer *w, const void *p, uint32_t n) {
    ms__reserve(w, n);
    ms__memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static inline void ms__put_u32(ms_writer *w, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    ms__put(w, b, 4);
}

static uint32_t ms__strlen(const char *s) {
    uint32_t n = 0;
    while (s[n]) n++;
    return n;
}

static void ms__key(ms_writer *w, uint8_t type, const char *key, uint32_t key_len) {
    ms__put(w, &type, 1);
    ms__put(w, key, key_len);
    uint8_t z = 0;
    ms__put(w, &z, 1);
}

/* Appends an element with its own key, copying its value bytes. */
static void ms_append(ms_writer *w, const ms_elem *e) {
    ms__key(w, e->type, e->key, e->key_len);
    ms__put(w, e->value, e->value_len);
}

/* Appends an element's value under another key (a rename in place). */
static void ms_append_as(ms_writer *w, const char *key, const ms_elem *e) {
    ms__key(w, e->type, key, ms__strlen(key));
    ms__put(w, e->value, e->value_len);
}

/* Copies every element of `d`. */
static void ms_append_all(ms_writer *w, ms_doc d) {
    ms_iter it = ms_iter_begin(d);
    ms_elem e;
    while (ms_next(&it, &e)) ms_append(w, &e);
}

static void ms_append_str(ms_writer *w, const char *key, const char *s, uint32_t n) {
    ms__key(w, MS_STRING, key, ms__strlen(key));
    ms__put_u32(w, n + 1);
    ms__put(w, s, n);
    uint8_t z = 0;
    ms__put(w, &z, 1);
}

static void ms_append_int32(ms_writer *w, const char *key, int32_t v) {
    ms__key(w, MS_INT32, key, ms__strlen(key));
    ms__put_u32(w, (uint32_t)v);
}

static void ms__put_u64(ms_writer *w, uint64_t v) {
    ms__put_u32(w, (uint32_t)v);
    ms__put_u32(w, (uint32_t)(v >> 32));
}

static void ms_append_int64(ms_writer *w, const char *key, int64_t v) {
    ms__key(w, MS_INT64, key, ms__strlen(key));
    ms__put_u64(w, (uint64_t)v);
}

static void ms_append_datetime(ms_writer *w, const char *key, int64_t ms) {
    ms__key(w, MS_DATETIME, key, ms__strlen(key));
    ms__put_u64(w, (uint64_t)ms);
}

static void ms_append_bool(ms_writer *w, const char *key, int v) {
    ms__key(w, MS_BOOL, key, ms__strlen(key));
    uint8_t b = v ? 1 : 0;
    ms__put(w, &b, 1);
}

static void ms_append_null(ms_writer *w, const char *key) {
    ms__key(w, MS_NULL, key, ms__strlen(key));
}

/* Appends `d` as an embedded document. */
static void ms_append_doc(ms_writer *w, const char *key, ms_doc d) {
    ms__key(w, MS_DOCUMENT, key, ms__strlen(key));
    ms__put(w, d.data, d.len);
}

/* Appends `d` as an array (its keys must be "0", "1", ...). */
static void ms_append_array(ms_writer *w, const char *key, ms_doc d) {
    ms__key(w, MS_ARRAY, key, ms__strlen(key));
    ms__put(w, d.data, d.len);
}

/* Closes the document and returns it. */
static ms_doc ms_writer_finish(ms_writer *w) {
    uint8_t z = 0;
    ms__put(w, &z, 1);
    uint32_t n = w->len;
    w->buf[0] = (uint8_t)n;
    w->buf[1] = (uint8_t)(n >> 8);
    w->buf[2] = (uint8_t)(n >> 16);
    w->buf[3] = (uint8_t)(n >> 24);
    ms_doc d = {w->buf, n};
    return d;
}

#include "mongoshift_text.h"

/* ---- logs -------------------------------------------------------------- */

/* Log levels of ms_log (the contract's `log`, guest-sdk/ABI.md "Logs"). */
enum { MS_DEBUG = 0, MS_INFO = 1, MS_NOTICE = 2, MS_WARN = 3, MS_ERROR = 4 };

__attribute__((import_module("env"), import_name("log")))
void ms__host_log(int32_t level, uint32_t ptr, uint32_t len);

/* The document of the batch being transformed, and the one the host was
 * last told of (-1: none): the host learns of a document only when it logs,
 * so a module that never logs makes no call and imports nothing. */
static int32_t ms__current = -1, ms__marked = -1;

/* Logs `len` bytes of UTF-8 at `level` (MS_DEBUG ... MS_ERROR): the host
 * gathers the lines of each batch and shows them with a failure, in a
 * quarantined document's entry and under `mongoshift up -v`. */
static void ms_log_n(int32_t level, const char *msg, uint32_t len) {
    if (ms__current >= 0 && ms__marked != ms__current) {
        ms__host_log(-1, (uint32_t)ms__current, 0);
        ms__marked = ms__current;
    }
    ms__host_log(level, (uint32_t)(uintptr_t)msg, len);
}

/* ms_log_n of a NUL-terminated message. */
static void ms_log(int32_t level, const char *msg) {
    uint32_t n = 0;
    while (msg[n]) n++;
    ms_log_n(level, msg, n);
}

/* The batch loop is at document `i` (-1: a new batch starts). */
static inline void ms__at(int32_t i) {
    if (i < 0) ms__marked = -1;
    ms__current = i;
}

/* ---- outcomes and the exports ----------------------------------------- */

typedef struct {
    uint8_t tag; /* 0 keep, 1 replace, 2 delete, 3 fail */
    const uint8_t *data;
    uint32_t len;
} ms_outcome;

static inline ms_outcome ms_keep(void) { ms_outcome o = {0, 0, 0}; return o; }
static inline ms_outcome ms_delete(void) { ms_outcome o = {2, 0, 0}; return o; }
static inline ms_outcome ms_replace(ms_doc d) { ms_outcome o = {1, d.data, d.len}; return o; }
static inline ms_outcome ms_fail_text(const ms_text *t) { ms_outcome o = {3, t->buf, t->len}; return o; }
static inline ms_outcome ms_fail(const char *message) {
    ms_outcome o = {3, (const uint8_t *)message, ms__strlen(message)};
    return o;
}

typedef ms_outcome (*ms_transform_fn)(ms_doc);

static void ms__set_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* Writes `o`'s record at `p` and returns where the next byte goes. */
static uint8_t *ms__put_outcome(uint8_t *p, const ms_outcome *o) {
    *p = o->tag;
    ms__set_u32(p + 1, o->len);
    if (o->len) ms__memcpy(p + 5, o->data, o->len);
    return p + 5 + o->len;
}

/* A result buffer of `size` bytes, its header and the count written. */
static uint8_t *ms__result(uint32_t size, uint32_t count) {
    uint8_t *res = (uint8_t *)ms_alloc(size);
    ms__set_u32(res, size - 4);
    ms__set_u32(res + 4, count);
    return res;
}

static uint32_t ms__run(ms_transform_fn f, uint32_t ptr, uint32_t len) {
    const uint8_t *batch = (const uint8_t *)(uintptr_t)ptr;
    uint32_t count = 0;
    for (uint32_t at = 0; at + 4 <= len; at += ms_u32(batch + at)) count++;
    ms_outcome *outs = (ms_outcome *)ms_alloc(count * (uint32_t)sizeof(ms_outcome));
    uint32_t size = 8, i = 0;
    ms__at(-1);
    for (uint32_t at = 0; i < count; at += ms_u32(batch + at), i++) {
        ms_doc d = {batch + at, ms_u32(batch + at)};
        ms__at((int32_t)i);
        outs[i] = f(d);
        size += 5 + outs[i].len;
    }
    uint8_t *res = ms__result(size, count);
    uint8_t *p = res + 8;
    for (i = 0; i < count; i++) p = ms__put_outcome(p, &outs[i]);
    return (uint32_t)(uintptr_t)res;
}

static uint32_t ms__describe(const char *name, int backward, int32_t version) {
    ms_writer w = ms_writer_new(64);
    ms_append_str(&w, "name", name, ms__strlen(name));
    ms_append_int32(&w, "contract_version", version);
    ms_append_bool(&w, "backward", backward);
    ms_doc d = ms_writer_finish(&w);
    uint8_t *res = (uint8_t *)ms_alloc(4 + d.len);
    ms__set_u32(res, d.len);
    ms__memcpy(res + 4, d.data, d.len);
    return (uint32_t)(uintptr_t)res;
}

/* The exports every module has; `transform_call` is the body of
 * mongoshift_transform, given `direction`, `ptr` and `len`. */
#define MS__EXPORTS(version, name, has_backward, transform_call)                        \
    __attribute__((export_name("mongoshift_contract_version"))) int32_t                \
    mongoshift_contract_version(void) { return (version); }                             \
    __attribute__((export_name("mongoshift_alloc"))) uint32_t mongoshift_alloc(uint32_t n) { \
        ms__top = 0; /* the previous batch and its results are dead */                \
        uint32_t p = ((uint32_t)(uintptr_t)&__heap_base + 7u) & ~7u;                     \
        if (!ms__ensure(p + n)) return 0;                                               \
        return (uint32_t)(uintptr_t)ms_alloc(n);                                        \
    }                                                                                   \
    __attribute__((export_name("mongoshift_describe"))) uint32_t mongoshift_describe(void) { \
        return ms__describe(name, (has_backward), (version));                           \
    }                                                                                   \
    __attribute__((export_name("mongoshift_transform"))) uint32_t mongoshift_transform( \
        int32_t direction, uint32_t ptr, uint32_t len) {                                \
        transform_call                                                                  \
    }

/* Exports the contract (version 1) for `forward` (and `backward`, or 0 when
 * there is no backward transform) under the module name `name`. Use it once
 * per module. */
#define MONGOSHIFT_TRANSFORM(name, forward, backward)                                   \
    MS__EXPORTS(1, name, (backward) != 0, {                                             \
        ms_transform_fn f = direction == 0 ? (forward) : (backward);                    \
        if (!f) __builtin_trap();                                                       \
        return ms__run(f, ptr, len);                                                    \
    })

#include "mongoshift_v2.h"

#endif /* MONGOSHIFT_H */
