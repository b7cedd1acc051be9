import json, os


def _answer(environ, start_response, which):
    body = json.dumps({
        "callable": which,
        "process_group": environ["mod_wsgi.process_group"],
        "application_group": environ["mod_wsgi.application_group"],
        "callable_object": environ["mod_wsgi.callable_object"],
        "daemon": environ["mod_wsgi.process_group"] != "",
    }, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def application(environ, start_response):
    return _answer(environ, start_response, "application")


def other(environ, start_response):
    return _answer(environ, start_response, "other")
