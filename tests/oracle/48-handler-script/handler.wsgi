import os
import sys

# Loads of this module in this interpreter, across reloads.
sys.__dict__["handler_loads"] = sys.__dict__.get("handler_loads", 0) + 1


def reload_required(resource):
    sys.__dict__["resource_type"] = type(resource).__name__
    return os.path.basename(resource) == "reload.py"


def handle_request(environ, start_response):
    keys = ["SCRIPT_NAME", "PATH_INFO", "SCRIPT_FILENAME",
            "mod_wsgi.handler_script", "mod_wsgi.callable_object",
            "mod_wsgi.application_group", "mod_wsgi.request_handler"]
    lines = ["%s=%s" % (k, environ.get(k)) for k in keys]
    path = environ["SCRIPT_FILENAME"]
    if os.path.isfile(path):
        with open(path) as f:
            lines.append("content=" + f.read().strip())
    else:
        lines.append("content=<none>")
    lines.append("loads=%d" % sys.__dict__["handler_loads"])
    lines.append("resource type=%s" % sys.__dict__.get("resource_type"))
    out = ("\n".join(lines) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [out]
