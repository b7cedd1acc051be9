# Answers with the names and ports the server reports.
def application(environ, start_response):
    keys = ("SERVER_NAME", "SERVER_PORT", "HTTP_HOST", "mod_wsgi.application_group")
    body = "".join("%s=%s\n" % (k, environ.get(k)) for k in keys).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
