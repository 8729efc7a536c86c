"""A flash-sale shop run the way a prefork server runs one: worker processes on one socket.

Run: python prefork_shop.py PORT DATABASE WORKERS [PAUSE_S]

This is what gunicorn's default (sync) workers do: the parent opens the
listening socket and forks WORKERS children; each child accepts a connection
and serves that one request to the end before accepting the next, so a payment
holds its whole process, and at most WORKERS requests are in flight. Each child
keeps one SQLite connection for its life.

/buy reads the stock, checks it, pays, then decrements it.
/buy-safe decrements only where stock is left (one conditional UPDATE), then pays.
"""

import json
import os
import signal
import socket
import sqlite3
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

STOCK_AT_START = 100
PAYMENT_SECONDS = 0.01
DATABASE = "prefork.db"


class Handler(BaseHTTPRequestHandler):
    database = None  # this process's connection, opened after the fork

    def log_message(self, *args):
        pass

    def send_json(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_json(self):
        size = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(size) or b"{}")

    def do_GET(self):
        if self.path != "/stock":
            return self.send_json(404, {"error": "not found"})
        (left,) = Handler.database.execute("SELECT stock FROM stock WHERE id = 1").fetchone()
        self.send_json(200, {"stock": left})

    def do_POST(self):
        db = Handler.database
        payload = self.read_json()
        if self.path == "/reset":
            db.execute("UPDATE stock SET stock = ? WHERE id = 1", (payload.get("stock", 100),))
            return self.send_json(200, {"ok": True})
        if self.path == "/buy":
            (left,) = db.execute("SELECT stock FROM stock WHERE id = 1").fetchone()
            if left <= 0:
                return self.send_json(409, {"error": "sold out"})
            time.sleep(PAYMENT_SECONDS)
            db.execute("UPDATE stock SET stock = stock - 1 WHERE id = 1")
            return self.send_json(201, {"ordered": True})
        if self.path == "/buy-safe":
            taken = db.execute("UPDATE stock SET stock = stock - 1 WHERE id = 1 AND stock > 0")
            if taken.rowcount == 0:
                return self.send_json(409, {"error": "sold out"})
            time.sleep(PAYMENT_SECONDS)
            return self.send_json(201, {"ordered": True})
        self.send_json(404, {"error": "not found"})


def child(listener):
    Handler.database = sqlite3.connect(DATABASE, timeout=30, isolation_level=None)
    server = HTTPServer(listener.getsockname(), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = listener
    server.serve_forever()


def main(port, workers):
    db = sqlite3.connect(DATABASE, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS stock (id INTEGER PRIMARY KEY, stock INTEGER)")
    db.execute("INSERT OR REPLACE INTO stock VALUES (1, ?)", (STOCK_AT_START,))
    db.close()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            child(listener)
            os._exit(0)
        children.append(pid)

    def stop(signum, frame):
        for pid in children:
            os.kill(pid, signal.SIGTERM)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in children:
        os.wait()


if __name__ == "__main__":
    DATABASE = sys.argv[2]
    if len(sys.argv) > 4:
        PAYMENT_SECONDS = float(sys.argv[4])
    main(int(sys.argv[1]), int(sys.argv[3]))
