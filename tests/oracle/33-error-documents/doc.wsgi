# The error document application: lists the variables an internal
# redirect gives it (the REDIRECT_* of the request's own, not the
# copies of every CGI variable mod_wsgi's daemon mode leaves behind).  /doc/fail answers 404 itself, /doc/boom raises.
def application(environ, start_response):
    p = environ.get("PATH_INFO", "")
    if "fail" in p:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"app 404 page\n"]
    if "boom" in p:
        raise RuntimeError("boom")
    keys = ("REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
            "CONTENT_LENGTH", "REDIRECT_STATUS", "REDIRECT_URL", "REDIRECT_QUERY_STRING",
            "REDIRECT_REQUEST_METHOD")
    body = "".join("%s=%s\n" % (k, v) for k, v in sorted(environ.items()) if k in keys)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
