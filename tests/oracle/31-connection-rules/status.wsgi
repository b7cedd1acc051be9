# Answers with the status named by PATH_INFO (/s/503 -> 503 Chosen).
def application(environ, start_response):
    code = environ["PATH_INFO"].lstrip("/") or "200"
    start_response(code + " Chosen", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
