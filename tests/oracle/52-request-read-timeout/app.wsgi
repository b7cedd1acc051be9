def application(environ, start_response):
    try:
        data = environ["wsgi.input"].read()
        body = "read %d bytes\n" % len(data)
    except Exception as e:
        body = "read failed: %s\n" % type(e).__name__
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
