# The classic mod_wsgi "Hello World" application (see the mod_wsgi quick
# configuration guide).  Serve it with either
#
#     wsgid start-server examples/hello.wsgi --host 127.0.0.1 --port 8000
#     wsgid -f examples/site.conf
#
# and open http://127.0.0.1:8000/ .

def application(environ, start_response):
    status = '200 OK'
    output = b'Hello World!'

    response_headers = [('Content-type', 'text/plain'),
                        ('Content-Length', str(len(output)))]
    start_response(status, response_headers)

    return [output]
