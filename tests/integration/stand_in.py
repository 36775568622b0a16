"""A local HTTP server that stands in for the outside services the flows call (the conformance
documents write it http://stand-in.invalid): pets, people and planets, an echo of the request,
authentication checks, a redirect, a slow and a flaky endpoint. Used by
test_flow_conformance.py and bench/flow_bench.py.

    with StandIn() as stand_in:
        stand_in.url        # http://127.0.0.1:<port>
        stand_in.requests   # every request seen: {"method", "path", "query", "headers", "body"}

Routes (JSON answers):
  GET  /pets/{id}                  {"id", "name": "pet-{id}", "status": "available"} (id 1 to 100, else 404)
  GET  /pets?status=S              three pets of status S
  GET  /pets/by-name/{name}        404 (no pet is found by name)
  PUT  /pets/{id}                  the body, with "id"
  GET  /moved/{id}                 302 to /pets/{id}
  GET  /people/{id}                {"id", "name", "homeworld": "<url>/planets/{id + 10}"}
  GET  /planets/{id}               {"id", "name": "planet-{id}"}
  GET  /basic/{user}/{password}    200 {"authenticated": true, "user"} with that Basic authorization, else 401
  GET  /bearer                     200 {"token"} with a Bearer authorization, else 401
  PUT  /page/{who}[?delayMs=N]     {"paged": who, "request": body}, after N ms
  GET  /flaky/{key}                503 for the first two requests with that key, then {"attempts": n}
  GET  /step/{n}                   {"step": n} (the bench's calls)
  any  /echo/...                   the request: {"method", "path", "query", "headers", "body"}
"""

import base64
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "http://stand-in.invalid"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real service would allow

    def log_message(self, *args):  # quiet: the tests print what matters
        pass

    def _answer(self, status, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _request(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        url = urllib.parse.urlsplit(self.path)
        return {"method": self.command, "path": url.path,
                "query": dict(urllib.parse.parse_qsl(url.query)),
                "headers": {name.lower(): value for name, value in self.headers.items()}, "body": body}

    def _route(self):
        request = self._request()
        server = self.server
        with server.lock:
            server.requests.append(request)
        path, method, query = request["path"], request["method"], request["query"]
        if path.startswith("/echo/"):
            return self._answer(200, request)
        match = re.fullmatch(r"/pets/(\d+)", path)
        if match and method == "GET":
            pet = int(match.group(1))
            if 1 <= pet <= 100:
                return self._answer(200, {"id": pet, "name": f"pet-{pet}", "status": "available"})
            return self._answer(404, {"title": "no such pet"})
        if match and method == "PUT":
            return self._answer(200, {**(request["body"] or {}), "id": int(match.group(1))})
        if path == "/pets" and method == "GET":
            status = query.get("status", "available")
            return self._answer(200, [{"id": i, "name": f"pet-{i}", "status": status} for i in (3, 4, 5)])
        if path.startswith("/pets/by-name/"):
            return self._answer(404, {"title": "no pet by that name"})
        match = re.fullmatch(r"/moved/(\d+)", path)
        if match:
            return self._answer(302, None, {"Location": f"/pets/{match.group(1)}"})
        match = re.fullmatch(r"/people/(\d+)", path)
        if match:
            person = int(match.group(1))
            return self._answer(200, {"id": person, "name": f"person-{person}",
                                      "homeworld": f"{server.url}/planets/{person + 10}"})
        match = re.fullmatch(r"/planets/(\d+)", path)
        if match:
            return self._answer(200, {"id": int(match.group(1)), "name": f"planet-{match.group(1)}"})
        match = re.fullmatch(r"/basic/([^/]+)/([^/]+)", path)
        if match:
            user, password = (urllib.parse.unquote(part) for part in match.groups())
            expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if request["headers"].get("authorization") == expected:
                return self._answer(200, {"authenticated": True, "user": user})
            return self._answer(401, {"title": "unauthenticated"})
        if path == "/bearer":
            authorization = request["headers"].get("authorization", "")
            if authorization.startswith("Bearer ") and len(authorization) > 7:
                return self._answer(200, {"token": authorization[7:]})
            return self._answer(401, {"title": "unauthenticated"})
        match = re.fullmatch(r"/page/(\w+)", path)
        if match and method == "PUT":
            time.sleep(int(query.get("delayMs", "0")) / 1000)
            return self._answer(200, {"paged": match.group(1), "request": request["body"]})
        match = re.fullmatch(r"/flaky/([\w-]+)", path)
        if match:
            with server.lock:
                attempts = server.flaky[match.group(1)] = server.flaky.get(match.group(1), 0) + 1
            if attempts <= 2:
                return self._answer(503, {"title": "try again"})
            return self._answer(200, {"attempts": attempts})
        match = re.fullmatch(r"/step/(\d+)", path)
        if match:
            return self._answer(200, {"step": int(match.group(1))})
        return self._answer(404, {"title": f"no route {method} {path}"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _route


class StandIn:
    """The stand-in, serving on a free port of 127.0.0.1 in threads of this process."""

    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.lock = threading.Lock()
        self.httpd.requests = []
        self.httpd.flaky = {}
        self.url = self.httpd.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.requests = self.httpd.requests

    def rewrite(self, text):
        """A definition's text with the stand-in's placeholder host replaced by its address."""
        return text.replace(HOST, self.url)

    def __enter__(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
