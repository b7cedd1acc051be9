def process_group(environ):
    q = environ.get("QUERY_STRING", "")
    if "pg=d2" in q:
        return "d2"
    if "pg=global" in q:
        return "%{GLOBAL}"
    if "pg=bad" in q:
        return 42
    return None


def application_group(environ):
    q = environ.get("QUERY_STRING", "")
    if "ag=named" in q:
        return "named-group"
    if "ag=keys" in q:
        # What the dispatch environ holds, as the group's name.
        keys = sorted(k for k in environ if not k.startswith("HTTP_"))
        return "keys:" + ",".join(keys)
    return None


def callable_object(environ):
    q = environ.get("QUERY_STRING", "")
    if "raise" in q:
        raise RuntimeError("dispatch exploded")
    if "co=other" in q:
        return "other"
    return None
