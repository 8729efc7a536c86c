"""The shop's and the gateway's SQLite schemas: the constraints a real one would have.

Two files, as in production: the shop cannot write the gateway's ledger, and
the audit reconciles the two. Constraints do real work: ``CHECK`` keeps stock
non-negative, ``UNIQUE`` keys make the payment table, the API's idempotency keys,
one order per intent and one refund per capture hold whatever the code does.
Every ``CREATE`` is ``IF NOT EXISTS`` so a restarted service reopens its files.

Every index costs a page write on every commit that touches it, so there are
only the ones the constraints and the hot paths need; tables keyed by text are
``WITHOUT ROWID`` (the key *is* the table, one b-tree instead of two).
"""

from __future__ import annotations

SHOP = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inventory (
    sku INTEGER PRIMARY KEY,
    initial INTEGER NOT NULL CHECK (initial >= 0),
    available INTEGER NOT NULL CHECK (available >= 0),
    version INTEGER NOT NULL DEFAULT 0,
    -- highest fencing token that has written this row
    fence INTEGER NOT NULL DEFAULT 0
);
-- one row per saga that reserved stock: its compensatable step
CREATE TABLE IF NOT EXISTS reservations (
    id INTEGER PRIMARY KEY,
    intent_id INTEGER NOT NULL,
    -- the idempotency key of the request whose saga took it
    saga_key TEXT NOT NULL,
    sku INTEGER NOT NULL REFERENCES inventory (sku),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    created_s REAL NOT NULL,
    expires_s REAL NOT NULL,
    updated_s REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'active'
        CHECK (state IN ('active', 'confirmed', 'released', 'expired', 'recovered'))
);
-- The reaper looks for due reservations many times a second (and a timeline sums
-- the active ones): without this a look reads every reservation ever made, 7 ms
-- at 100,000 rows, and a server that runs for long enough spends its core there.
-- Only active reservations are in it, so it stays a page or two however long the run.
CREATE INDEX IF NOT EXISTS reservations_active ON reservations (expires_s)
    WHERE state = 'active';
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY,
    intent_id INTEGER NOT NULL UNIQUE,
    reservation_id INTEGER NOT NULL REFERENCES reservations (id),
    capture_id INTEGER NOT NULL,
    sku INTEGER NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    created_s REAL NOT NULL
);
-- the payment service's table, keyed by the shopper's idempotency key
CREATE TABLE IF NOT EXISTS payments (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('in_progress', 'captured', 'failed', 'retry')),
    capture_id INTEGER,
    updated_s REAL NOT NULL,
    CHECK ((state = 'captured') = (capture_id IS NOT NULL))
) WITHOUT ROWID;
-- lock leases: the current holder of each name
CREATE TABLE IF NOT EXISTS locks (
    name TEXT PRIMARY KEY,
    token INTEGER NOT NULL,
    expires_s REAL NOT NULL
) WITHOUT ROWID;
-- every grant ever made; the AUTOINCREMENT id is the fencing token, so it only grows
CREATE TABLE IF NOT EXISTS lock_grants (
    token INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    granted_s REAL NOT NULL,
    expires_s REAL NOT NULL,
    released_s REAL,
    -- when the holder first asked: a grant after a long wait was a blocked transaction
    asked_s REAL NOT NULL
);
-- every transaction a crashed coordinator stopped at a step, and until when
CREATE TABLE IF NOT EXISTS coordinator_stalls (
    id INTEGER PRIMARY KEY,
    intent_id INTEGER NOT NULL,
    stalled_s REAL NOT NULL,
    until_s REAL NOT NULL
);
-- every lock wait given up at its deadline
CREATE TABLE IF NOT EXISTS lock_timeouts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    asked_s REAL NOT NULL,
    gave_up_s REAL NOT NULL
);
-- every blind or versioned stock write, with the lease its writer believed it held
CREATE TABLE IF NOT EXISTS stock_writes (
    id INTEGER PRIMARY KEY,
    sku INTEGER NOT NULL,
    lease_token INTEGER,
    fence_token INTEGER,
    accepted INTEGER NOT NULL CHECK (accepted IN (0, 1)),
    time_s REAL NOT NULL
);
-- the API's idempotency keys (Stripe's rules: replay, 409 while running, 422 on reuse)
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY,
    intent_id INTEGER NOT NULL,
    body_hash TEXT NOT NULL,
    recovery_point TEXT NOT NULL CHECK (recovery_point IN ('started', 'finished')),
    status_code INTEGER,
    response TEXT,
    created_s REAL NOT NULL,
    updated_s REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS intent_ids (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_s REAL NOT NULL
);
-- counters no table holds, one row per service process, written when it closes
CREATE TABLE IF NOT EXISTS service_counters (
    process TEXT PRIMARY KEY,
    counters TEXT NOT NULL
) WITHOUT ROWID;
-- The durable saga log: each saga's last recovery point, read off the rows that
-- record it (reservation, payment row, order), which are written in the saga's
-- own transactions. A log kept as a view costs no write and cannot disagree with
-- the rows; a capture made without a payment row (no key) leaves no trace here
-- and is the orphan sweeper's to find in the gateway's ledger.
CREATE VIEW IF NOT EXISTS saga_log AS
SELECT
    r.id AS reservation_id,
    r.intent_id AS intent_id,
    r.saga_key AS key,
    CASE r.state
        WHEN 'active' THEN CASE WHEN p.state = 'captured' THEN 'captured' ELSE 'reserved' END
        WHEN 'confirmed' THEN 'ordered'
        ELSE r.state
    END AS step,
    COALESCE(o.capture_id, CASE WHEN p.state = 'captured' THEN p.capture_id END) AS capture_id,
    r.created_s AS started_s,
    r.updated_s AS updated_s
FROM reservations r
LEFT JOIN payments p ON p.key = r.saga_key
LEFT JOIN orders o ON o.intent_id = r.intent_id AND o.reservation_id = r.id;
"""

GATEWAY = """
CREATE TABLE IF NOT EXISTS captures (
    id INTEGER PRIMARY KEY,
    intent_id INTEGER NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    idempotency_key TEXT,
    time_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS refunds (
    id INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL UNIQUE REFERENCES captures (id),
    time_s REAL NOT NULL
);
-- refunds asked for and not necessarily done yet: a gateway takes the request, then
-- settles it (a caller that dies in between leaves the request on the books)
CREATE TABLE IF NOT EXISTS refund_requests (
    capture_id INTEGER PRIMARY KEY REFERENCES captures (id),
    time_s REAL NOT NULL
);
-- funds held by a two-phase prepare: their capture is not declined again
CREATE TABLE IF NOT EXISTS holds (
    intent_id INTEGER PRIMARY KEY,
    time_s REAL NOT NULL
);
-- the gateway's own idempotency keys
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('processing', 'captured', 'declined')),
    capture_id INTEGER REFERENCES captures (id),
    created_s REAL NOT NULL
) WITHOUT ROWID;
-- a capture under a key settles the key in the same transaction
CREATE TRIGGER IF NOT EXISTS capture_settles_key AFTER INSERT ON captures
WHEN NEW.idempotency_key IS NOT NULL
BEGIN
    UPDATE idempotency SET state = 'captured', capture_id = NEW.id
    WHERE key = NEW.idempotency_key;
END;
-- one token bucket per gateway account, shared by every caller process
CREATE TABLE IF NOT EXISTS rate_limit (
    account INTEGER PRIMARY KEY,
    tokens REAL NOT NULL,
    updated_s REAL NOT NULL
);
"""

# The payment retry queue (``checkoutsim.real.parked_queue``), in the shop's
# database so that every service process produces to and consumes from one
# queue. The id is the queue-wide offset; a partition's head is its lowest open
# id. Created only when the scenario enables the queue.
PARKED = """
CREATE TABLE IF NOT EXISTS parked_payments (
    id INTEGER PRIMARY KEY,
    partition_no INTEGER NOT NULL CHECK (partition_no >= 0),
    intent_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    gateway_key TEXT,
    amount INTEGER NOT NULL CHECK (amount > 0),
    sku INTEGER NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    reservation_id INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- hand-outs so far; only the latest claim may ack or nack
    claims INTEGER NOT NULL DEFAULT 0,
    -- payments parked, this one included, when it was enqueued
    depth_at_enqueue INTEGER NOT NULL CHECK (depth_at_enqueue >= 1),
    enqueued_s REAL NOT NULL,
    due_s REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'in_flight', 'delivered', 'dead_letter')),
    outcome TEXT CHECK (outcome IN ('recovered', 'settled')),
    finished_s REAL,
    -- while in flight: when the claim lapses and the row is handed out again
    lease_until_s REAL,
    CHECK ((state = 'delivered') = (outcome IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS parked_open ON parked_payments (partition_no, id)
    WHERE state IN ('queued', 'in_flight');
"""
