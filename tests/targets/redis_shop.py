"""A flash-sale shop on Tornado and Redis, async all the way.

Run: python redis_shop.py PORT REDIS_URL KEY [PAUSE_S]

/buy GETs the stock, checks it, awaits the payment, then DECRs: one event
loop, but every await lets another request pass the same check.
/buy-safe runs the check and the decrement as one Lua script on the server.
"""

import asyncio
import json
import sys

import redis.asyncio as redis
import tornado.web

INITIAL_STOCK = 100
PAUSE = 0.01
KEY = "shop:stock"
r = None

RESERVE = """
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
if left < tonumber(ARGV[1]) then return -1 end
return redis.call('DECRBY', KEYS[1], ARGV[1])
"""


class Stock(tornado.web.RequestHandler):
    async def get(self):
        self.write({"stock": int(await r.get(KEY) or 0)})


class Reset(tornado.web.RequestHandler):
    async def post(self):
        body = json.loads(self.request.body or b"{}")
        await r.set(KEY, body.get("stock", INITIAL_STOCK))
        self.write({"ok": True})


class Buy(tornado.web.RequestHandler):
    async def post(self):
        stock = int(await r.get(KEY) or 0)
        if stock < 1:
            self.set_status(409)
            return self.write({"error": "sold out"})
        await asyncio.sleep(PAUSE)  # payment
        await r.decr(KEY)
        self.set_status(201)
        self.write({"ok": True})


class BuySafe(tornado.web.RequestHandler):
    async def post(self):
        left = await r.eval(RESERVE, 1, KEY, 1)
        if left < 0:
            self.set_status(409)
            return self.write({"error": "sold out"})
        await asyncio.sleep(PAUSE)  # payment
        self.set_status(201)
        self.write({"ok": True})


async def main(port):
    global r
    r = redis.from_url(REDIS_URL)
    await r.set(KEY, INITIAL_STOCK)
    app = tornado.web.Application(
        [("/stock", Stock), ("/reset", Reset), ("/buy", Buy), ("/buy-safe", BuySafe)]
    )
    app.listen(port, address="127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    REDIS_URL, KEY = sys.argv[2], sys.argv[3]
    if len(sys.argv) > 4:
        PAUSE = float(sys.argv[4])
    asyncio.run(main(int(sys.argv[1])))
