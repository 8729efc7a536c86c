"""A flash-sale shop on the standard library: http.server and SQLite.

Run: python sqlite_shop.py PORT DATABASE [PAUSE_S]

/buy does what most first versions do: SELECT the stock, check it, then
UPDATE stock = stock - 1. /buy-writeback writes the value it read minus one.
/buy-safe lets the database decide: UPDATE ... WHERE stock >= 1, and looks at
how many rows changed.
"""

import json
import sqlite3
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DATABASE = "shop.db"
INITIAL_STOCK = 100
PAUSE = 0.01


def connect():
    return sqlite3.connect(DATABASE, timeout=30, isolation_level=None)


def setup(stock):
    db = connect()
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS items (sku TEXT PRIMARY KEY, stock INTEGER)")
    db.execute("INSERT OR REPLACE INTO items VALUES ('A1', ?)", (stock,))
    db.close()


class Shop(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self):
        if self.path.startswith("/items/"):
            sku = self.path[len("/items/") :]
            db = connect()
            row = db.execute("SELECT stock FROM items WHERE sku = ?", (sku,)).fetchone()
            db.close()
            if row is None:
                return self.reply(404, {"error": "no such item"})
            return self.reply(200, {"sku": sku, "stock": row[0]})
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        if self.path == "/reset":
            setup(self.body().get("stock", INITIAL_STOCK))
            return self.reply(200, {"ok": True})
        order = self.body()
        sku = order.get("item", "A1")
        db = connect()
        try:
            if self.path == "/buy":
                (stock,) = db.execute("SELECT stock FROM items WHERE sku = ?", (sku,)).fetchone()
                if stock < 1:
                    return self.reply(409, {"error": "sold out"})
                time.sleep(PAUSE)  # payment
                db.execute("UPDATE items SET stock = stock - 1 WHERE sku = ?", (sku,))
                return self.reply(201, {"ok": True})
            if self.path == "/buy-writeback":
                (stock,) = db.execute("SELECT stock FROM items WHERE sku = ?", (sku,)).fetchone()
                if stock < 1:
                    return self.reply(409, {"error": "sold out"})
                time.sleep(PAUSE)  # payment
                db.execute("UPDATE items SET stock = ? WHERE sku = ?", (stock - 1, sku))
                return self.reply(201, {"ok": True})
            if self.path == "/buy-safe":
                changed = db.execute(
                    "UPDATE items SET stock = stock - 1 WHERE sku = ? AND stock >= 1", (sku,)
                ).rowcount
                if changed == 0:
                    return self.reply(409, {"error": "sold out"})
                time.sleep(PAUSE)  # payment
                return self.reply(201, {"ok": True})
            self.reply(404, {"error": "not found"})
        finally:
            db.close()


if __name__ == "__main__":
    DATABASE = sys.argv[2]
    if len(sys.argv) > 3:
        PAUSE = float(sys.argv[3])
    setup(INITIAL_STOCK)
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Shop).serve_forever()
