def application(environ, start_response):
    body = ("%s %s\n" % (environ["REQUEST_METHOD"], environ.get("REMOTE_USER", "-"))).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
