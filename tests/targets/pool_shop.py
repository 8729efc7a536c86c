"""A flash-sale shop on a fixed thread pool, standard library only, as a proof of concept would be.

Run: python pool_shop.py PORT THREADS [PAUSE_S]

``http.server`` hands each connection to a ``ThreadPoolExecutor`` of THREADS
threads, so at most THREADS requests run at once and the rest wait in line
before any of their work. /buy checks a module-level counter, pays (a sleep
that holds its thread), then takes one off: only the requests on a thread can
be inside that window together, so the pool caps the oversell. /buy-safe takes
a mutex around the check and the decrement, and pays after reserving.
"""

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer

state = {"stock": 100}
lock = threading.Lock()
PAUSE = 0.01


class Handler(BaseHTTPRequestHandler):
    """One request; HTTP/1.0, so each connection carries one request and frees its thread."""

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path != "/stock":
            return self.reply(404, {"error": "not found"})
        self.reply(200, {"stock": state["stock"]})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/reset":
            state["stock"] = data.get("stock", 100)
            return self.reply(200, {"stock": state["stock"]})
        if self.path == "/buy":
            if state["stock"] <= 0:
                return self.reply(409, {"error": "sold out"})
            time.sleep(PAUSE)  # charge the card
            state["stock"] -= 1
            return self.reply(201, {"ok": True})
        if self.path == "/buy-safe":
            with lock:
                if state["stock"] <= 0:
                    return self.reply(409, {"error": "sold out"})
                state["stock"] -= 1
            time.sleep(PAUSE)  # charge the card
            return self.reply(201, {"ok": True})
        self.reply(404, {"error": "not found"})


class PoolServer(HTTPServer):
    """Accepts on one thread; serves each connection on the pool."""

    request_queue_size = 128

    def __init__(self, address, threads):
        super().__init__(address, Handler)
        self.pool = ThreadPoolExecutor(max_workers=threads)

    def process_request(self, request, client_address):
        self.pool.submit(self.serve_one, request, client_address)

    def serve_one(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


if __name__ == "__main__":
    if len(sys.argv) > 3:
        PAUSE = float(sys.argv[3])
    PoolServer(("127.0.0.1", int(sys.argv[1])), int(sys.argv[2])).serve_forever()
