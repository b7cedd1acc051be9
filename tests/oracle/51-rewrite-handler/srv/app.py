def application(environ, start_response):
    body = "app.py as a WSGI script: %s\n" % environ["mod_wsgi.handler_script"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
