def handle_request(environ, start_response):
    body = "handler script for %s\n" % environ["SCRIPT_FILENAME"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
