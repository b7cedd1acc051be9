def application(environ, start_response):
    n = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(n) if n else b""
    keys = ["REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
            "REQUEST_URI", "SCRIPT_FILENAME", "FROM_DIR", "SCRIPT_URL",
            "SCRIPT_URI"]
    lines = ["%s=%s" % (k, environ.get(k)) for k in keys]
    lines += ["%s=%s" % (k, environ[k]) for k in sorted(environ)
              if k.startswith("REDIRECT_")]
    lines.append("body=%r" % body)
    out = ("\n".join(lines) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [out]
