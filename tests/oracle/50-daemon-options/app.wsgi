import os
from urllib.parse import parse_qs


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    size = int(q.get("size", ["0"])[0])
    headers = [("Content-Type", "text/plain")]
    if size:
        headers.append(("X-Big", "a" * size))
    import mod_wsgi
    body = "group=%s nice=%d metrics=%r\n" % (
        environ["mod_wsgi.process_group"],
        os.getpriority(os.PRIO_PROCESS, 0),
        mod_wsgi.server_metrics(),
    )
    start_response("200 OK", headers)
    return [body.encode()]
