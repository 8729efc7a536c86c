"""A flash-sale shop in Flask, as a tutorial would write it: one global counter.

Run: python flask_shop.py PORT [PAUSE_S]

/buy is the racy one: it checks the stock, talks to the payment provider
(a short sleep), then takes one off. Under load, many requests pass the check
before any of them decrements, so the stock goes below zero.
/buy-writeback reads the stock into a local, and writes local - 1 back: lost
updates instead of negative stock. /buy-safe takes the lock around the check
and the decrement (and pays after reserving).
"""

import sys
import threading
import time

from flask import Flask, jsonify, request

app = Flask(__name__)

INITIAL_STOCK = 100
PAUSE = 0.01

stock = INITIAL_STOCK
lock = threading.Lock()


@app.route("/reset", methods=["POST"])
def reset():
    global stock
    data = request.get_json(silent=True) or {}
    stock = data.get("stock", INITIAL_STOCK)
    return jsonify({"stock": stock})


@app.route("/stock")
def get_stock():
    return jsonify({"stock": stock})


@app.route("/buy", methods=["POST"])
def buy():
    global stock
    if stock <= 0:
        return jsonify({"error": "sold out"}), 409
    time.sleep(PAUSE)  # charge the card
    stock -= 1
    return jsonify({"ok": True}), 201


@app.route("/buy-writeback", methods=["POST"])
def buy_writeback():
    global stock
    current = stock
    if current <= 0:
        return jsonify({"error": "sold out"}), 409
    time.sleep(PAUSE)  # charge the card
    stock = current - 1
    return jsonify({"ok": True}), 201


@app.route("/buy-safe", methods=["POST"])
def buy_safe():
    global stock
    with lock:
        if stock <= 0:
            return jsonify({"error": "sold out"}), 409
        stock -= 1
    time.sleep(PAUSE)  # charge the card
    return jsonify({"ok": True}), 201


if __name__ == "__main__":
    if len(sys.argv) > 2:
        PAUSE = float(sys.argv[2])
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
