# The application the profile-guided build is trained on (scripts/build-pgo.sh):
# the kinds of request a WSGI site serves, not the benchmark's own app.
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = os.path.join(HERE, "static", "page.html")
CHUNK = b"x" * 16384


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/hello":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"Hello, world!"]
    if path == "/environ":
        keys = sorted(k for k, v in environ.items() if isinstance(v, str))
        body = json.dumps({k: environ[k] for k in keys}, indent=1).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/echo":
        data = environ["wsgi.input"].read()
        body = str(len(data)).encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/lines":
        n = sum(1 for _ in environ["wsgi.input"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(n).encode()]
    if path == "/large":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (CHUNK for _ in range(16))
    if path == "/file":
        start_response("200 OK", [("Content-Type", "text/html")])
        return environ["wsgi.file_wrapper"](open(PAGE, "rb"), 8192)
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"and returned"]
    if path == "/redirect":
        start_response("302 Found", [("Location", "/hello")])
        return [b""]
    if path == "/error":
        raise RuntimeError("a failing request, for the training run")
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not here"]
