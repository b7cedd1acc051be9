# Answers with the status named by PATH_INFO (/h/404 -> 404 Chosen), two
# X-App lines and an X-Multi of its own; the body lists the HTTP_* (and
# FOO) variables it sees.
def application(environ, start_response):
    code = environ["PATH_INFO"].strip("/").split("/")[0] or "200"
    if not code.isdigit():
        code = "200"
    body = "".join("%s=%s\n" % (k, v) for k, v in sorted(environ.items())
                   if k.startswith("HTTP_") or k == "FOO").encode()
    start_response(code + " Chosen", [("Content-Type", "text/plain"),
                                      ("Content-Length", str(len(body))),
                                      ("X-App", "one"), ("X-App", "two"),
                                      ("X-Multi", "a, b")])
    return [body]
