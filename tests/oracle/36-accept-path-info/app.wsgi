# Answers with its SCRIPT_NAME and PATH_INFO.
def application(environ, start_response):
    body = ("%s|%s\n" % (environ["SCRIPT_NAME"], environ["PATH_INFO"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
