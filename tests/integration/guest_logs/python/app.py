from mongoshift import ERROR, WARN, export, fail, keep, log


def check(doc):
    log(WARN, "checking")
    print("printed line")
    if doc.get("boom") is not None:
        raise ValueError("boom in document")
    if doc.get("bad") is not None:
        log(ERROR, "bad field")
        return fail("bad document")
    return keep()


WitWorld = export("logs", check)
