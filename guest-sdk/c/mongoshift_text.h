/*
 * mongoshift_text.h: text for messages (matching the Rust guests' byte for
 * byte) and dates.
 * A part of mongoshift.h: include that, not this.
 */
#ifndef MONGOSHIFT_TEXT_H
#define MONGOSHIFT_TEXT_H

/* ---- text for messages ----------------------------------------------- */

/* A growing string in the arena (not NUL-terminated; see .len). */
typedef ms_writer ms_text;

static ms_text ms_text_new(void) {
    ms_text t = ms_writer_new(64);
    t.len = 0;
    return t;
}

static void ms_text_add(ms_text *t, const char *s) { ms__put(t, s, ms__strlen(s)); }
static void ms_text_add_n(ms_text *t, const char *s, uint32_t n) { ms__put(t, s, n); }

static void ms__hex(ms_text *t, uint32_t v) {
    char b[8];
    int n = 0;
    do {
        b[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    while (n) ms__put(t, &b[--n], 1);
}

/* Appends `s` quoted and escaped as Rust's `{:?}` does for strings, so that
 * messages match the Rust guests' byte for byte: \" \\ \n \r \t \0, other
 * control characters as \u{..}. */
static void ms_text_add_quoted(ms_text *t, const char *s, uint32_t n) {
    ms__put(t, "\"", 1);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        const char *esc = 0;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case 0: esc = "\\0"; break;
        }
        if (esc) {
            ms_text_add(t, esc);
        } else if (c < 0x20 || c == 0x7f) {
            ms_text_add(t, "\\u{");
            ms__hex(t, c);
            ms__put(t, "}", 1);
        } else if (c == 0xC2 && i + 1 < n && (uint8_t)s[i + 1] >= 0x80 && (uint8_t)s[i + 1] <= 0x9F) {
            ms_text_add(t, "\\u{");
            ms__hex(t, (uint8_t)s[++i]);
            ms__put(t, "}", 1);
        } else {
            ms__put(t, &c, 1);
        }
    }
    ms__put(t, "\"", 1);
}

/* Appends `v` in decimal. */
static void ms_text_add_i64(ms_text *t, int64_t v) {
    char b[20];
    int n = 0;
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        b[n++] = (char)('0' + a % 10);
        a /= 10;
    } while (a);
    if (v < 0) ms__put(t, "-", 1);
    while (n) ms__put(t, &b[--n], 1);
}

/* Appends `n` bytes as lowercase hex (an ObjectId's 12 bytes give its usual
 * 24-character form). */
static void ms_text_add_hex(ms_text *t, const uint8_t *p, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        ms__put(t, &"0123456789abcdef"[p[i] >> 4], 1);
        ms__put(t, &"0123456789abcdef"[p[i] & 15], 1);
    }
}

/* A BSON type's name as the Rust SDK's messages show it (bson's
 * `ElementType` debug form: "String", "Int32", "EmbeddedDocument", ...), so
 * that messages match the Rust guests' byte for byte. */
static const char *ms_type_name(uint8_t type) {
    switch (type) {
    case MS_DOUBLE: return "Double";
    case MS_STRING: return "String";
    case MS_DOCUMENT: return "EmbeddedDocument";
    case MS_ARRAY: return "Array";
    case MS_BINARY: return "Binary";
    case MS_UNDEFINED: return "Undefined";
    case MS_OBJECT_ID: return "ObjectId";
    case MS_BOOL: return "Boolean";
    case MS_DATETIME: return "DateTime";
    case MS_NULL: return "Null";
    case MS_REGEX: return "RegularExpression";
    case MS_DBPOINTER: return "DbPointer";
    case MS_CODE: return "JavaScriptCode";
    case MS_SYMBOL: return "Symbol";
    case MS_CODE_W_SCOPE: return "JavaScriptCodeWithScope";
    case MS_INT32: return "Int32";
    case MS_TIMESTAMP: return "Timestamp";
    case MS_INT64: return "Int64";
    case MS_DECIMAL128: return "Decimal128";
    case MS_MAX_KEY: return "MaxKey";
    case MS_MIN_KEY: return "MinKey";
    default: return "Unknown";
    }
}

/* ---- dates ------------------------------------------------------------- */

/* Floor division (b > 0), without overflow at INT64_MIN. */
static inline int64_t ms__div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static inline int ms__leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static inline int64_t ms__days_in_month(int64_t y, int64_t m) {
    static const int8_t d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && ms__leap(y) ? 29 : d[m - 1];
}

static int64_t ms__days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = ms__div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Parses a strftime-like `format` (%Y %m %d %H %M %S %%; other characters
 * match exactly) into milliseconds since the epoch (UTC). 0 when `s` does not
 * match or is not a real date (February 30th, hour 24, ...). */
static int ms_parse_date(const char *s, uint32_t n, const char *format, int64_t *ms) {
    int64_t f[6] = {1970, 1, 1, 0, 0, 0}; /* Y m d H M S */
    uint32_t at = 0;
    for (const char *p = format; *p; p++) {
        if (*p != '%') {
            if (at >= n || s[at] != *p) return 0;
            at++;
            continue;
        }
        p++;
        int slot, width = 2;
        switch (*p) {
        case 'Y': slot = 0; width = 4; break;
        case 'm': slot = 1; break;
        case 'd': slot = 2; break;
        case 'H': slot = 3; break;
        case 'M': slot = 4; break;
        case 'S': slot = 5; break;
        case '%':
            if (at >= n || s[at] != '%') return 0;
            at++;
            continue;
        default: return 0;
        }
        if (at + width > n) return 0;
        int64_t v = 0;
        for (int i = 0; i < width; i++) {
            char c = s[at + i];
            if (c < '0' || c > '9') return 0;
            v = v * 10 + (c - '0');
        }
        f[slot] = v;
        at += width;
    }
    if (at != n || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > ms__days_in_month(f[0], f[1]) ||
        f[3] > 23 || f[4] > 59 || f[5] > 59)
        return 0;
    *ms = ((ms__days_from_civil(f[0], f[1], f[2]) * 24 + f[3]) * 60 + f[4]) * 60000 + f[5] * 1000;
    return 1;
}

/* A strict "YYYY-MM-DD" to midnight UTC. */
static inline int ms_parse_ymd(const char *s, uint32_t n, int64_t *ms) {
    return ms_parse_date(s, n, "%Y-%m-%d", ms);
}

/* Writes the UTC date of `ms` as YYYY-MM-DD into `out` (room for 24 bytes)
 * and returns its length. Years pad to four digits, with a sign if negative. */
static uint32_t ms_format_ymd(int64_t ms, char *out) {
    int64_t z = ms__div(ms, 86400000) + 719468;
    int64_t era = ms__div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) y++;
    uint32_t n = 0;
    char digits[24];
    int nd = 0;
    uint64_t ay = y < 0 ? (uint64_t)(-y) : (uint64_t)y;
    do {
        digits[nd++] = (char)('0' + ay % 10);
        ay /= 10;
    } while (ay);
    if (y < 0) out[n++] = '-';
    for (int pad = (y < 0 ? 3 : 4) - nd; pad > 0; pad--) out[n++] = '0';
    while (nd) out[n++] = digits[--nd];
    out[n++] = '-';
    out[n++] = (char)('0' + m / 10);
    out[n++] = (char)('0' + m % 10);
    out[n++] = '-';
    out[n++] = (char)('0' + d / 10);
    out[n++] = (char)('0' + d % 10);
    return n;
}

#endif /* MONGOSHIFT_TEXT_H */
