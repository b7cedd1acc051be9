def application(environ, start_response):
    headers = [("Content-Type", "text/plain")]
    if environ["PATH_INFO"] == "/own":
        headers.append(("Content-Language", "it"))
    start_response("200 OK", headers)
    return [b"app\n"]
