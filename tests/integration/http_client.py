"""A tiny HTTP client for the tests (the standard library's), returning status, headers and JSON."""

import hashlib
import hmac
import json
import urllib.error
import uuid
import urllib.request


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.text = body.decode()
        try:
            self.json = json.loads(self.text) if self.text else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<{self.status} {self.text[:500]}>"


def request(method, url, body=None, headers=None, raw=None, timeout=90):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and "Content-Type" not in (headers or {}):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return Response(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, error.headers, error.read())


def get(url, **kwargs):
    return request("GET", url, **kwargs)


def post(url, body=None, **kwargs):
    return request("POST", url, body=body if body is not None else {}, **kwargs)


def github_delivery(base_url, route, raw, secret, delivery=None, event="push"):
    """POSTs raw (bytes) to a webhook route as GitHub delivers it, signed with secret."""
    signature = hmac.new(secret if isinstance(secret, bytes) else secret.encode(), raw, hashlib.sha256).hexdigest()
    return request("POST", f"{base_url}/webhooks/{route}", raw=raw, headers={
        "Content-Type": "application/json", "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()), "X-Hub-Signature-256": f"sha256={signature}"})
