# Answers with the request's path variables (text, one per line).
def application(environ, start_response):
    keys = ("SCRIPT_NAME", "PATH_INFO", "REQUEST_URI")
    body = "".join("%s=%s\n" % (k, environ.get(k)) for k in keys)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
