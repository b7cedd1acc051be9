def application(environ, start_response):
    body = ("%s\n" % environ["REQUEST_METHOD"]).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
