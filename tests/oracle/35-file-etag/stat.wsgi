# The facts an ETag is made of, for files/f.txt, as JSON.
import json
import os

def application(environ, start_response):
    st = os.stat(os.path.join(os.path.dirname(__file__), "files", "f.txt"))
    body = json.dumps({"ino": st.st_ino, "size": st.st_size, "mtime_us": st.st_mtime_ns // 1000}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
