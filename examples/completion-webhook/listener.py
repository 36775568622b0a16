"""A small receiver of Portico's completion webhooks: checks each delivery's Standard Webhooks
signature (webhook-id, webhook-timestamp, webhook-signature; HMAC-SHA256 with the whsec_ secret
in PORTICO_CALLBACK_SECRET), drops repeats by webhook-id, and prints the workflow's outcome.

    PORTICO_CALLBACK_SECRET=whsec_… python3 listener.py [--port 9000]

Standard library only, so it runs anywhere Python does."""

import argparse
import base64
import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_S = 300


def signed(secret: bytes, headers, body: bytes) -> bool:
    message_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not message_id or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_S:
        return False
    expected = base64.b64encode(hmac.new(secret, f"{message_id}.{timestamp}.".encode() + body,
                                         hashlib.sha256).digest()).decode()
    offered = [part.split(",", 1)[1] for part in headers.get("webhook-signature", "").split()
               if part.startswith("v1,")]
    return any(hmac.compare_digest(expected, signature) for signature in offered)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    arguments = parser.parse_args()
    secret = base64.b64decode(os.environ["PORTICO_CALLBACK_SECRET"].removeprefix("whsec_"))
    seen = set()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not signed(secret, self.headers, body):
                self.send_response(401)
                self.end_headers()
                print("refused: bad or old signature", flush=True)
                return
            self.send_response(204)
            self.end_headers()
            if self.headers["webhook-id"] in seen:
                return
            seen.add(self.headers["webhook-id"])
            outcome = json.loads(body)
            print(f"{self.path} {outcome['workflowId']} {outcome['status']}:",
                  json.dumps({k: v for k, v in outcome.items() if k not in ("workflowId", "status")}), flush=True)

        def log_message(self, *args):
            pass

    print(f"listening on http://127.0.0.1:{arguments.port}/ (Ctrl-C stops)", flush=True)
    ThreadingHTTPServer(("127.0.0.1", arguments.port), Receiver).serve_forever()


if __name__ == "__main__":
    main()
