def application(environ, start_response):
    status = "204 No Content" if environ["QUERY_STRING"] == "204" else "304 Not Modified"
    start_response(status, [
        ("Content-Type", "text/html"),
        ("ETag", '"v1"'),
        ("Cache-Control", "max-age=60"),
        ("Expires", "Thu, 01 Jan 2099 00:00:00 GMT"),
        ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("Content-Language", "en"),
        ("Content-Encoding", "gzip"),
        ("Vary", "Accept"),
        ("X-Custom", "kept"),
        ("Set-Cookie", "a=b"),
    ])
    return []
