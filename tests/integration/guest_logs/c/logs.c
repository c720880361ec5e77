#include "mongoshift.h"

static ms_outcome check(ms_doc doc) {
    ms_elem e;
    ms_log(MS_WARN, "checking");
    if (ms_find(doc, "boom", &e)) {
        ms_log(MS_ERROR, "boom in document");
        __builtin_trap();
    }
    if (ms_find(doc, "bad", &e)) {
        ms_log(MS_ERROR, "bad field");
        return ms_fail("bad document");
    }
    return ms_keep();
}
MONGOSHIFT_TRANSFORM("logs", check, 0)
