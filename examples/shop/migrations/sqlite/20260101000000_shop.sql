-- The shop's schema on SQLite. migrations/postgres/ holds the same schema for PostgreSQL:
-- the app's SQL runs unchanged on both.

CREATE TABLE products (
    id          INTEGER PRIMARY KEY,
    sku         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    stock       INTEGER NOT NULL CHECK (stock >= 0)
);

CREATE TABLE orders (
    id             INTEGER PRIMARY KEY,
    customer_email TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'settled', 'failed')),
    total_cents    INTEGER NOT NULL CHECK (total_cents >= 0),
    created_at     INTEGER NOT NULL,
    payment_id     TEXT,
    settled_at     INTEGER
);

CREATE INDEX orders_by_status ON orders (status);

CREATE TABLE order_lines (
    order_id         INTEGER NOT NULL REFERENCES orders (id),
    line_no          INTEGER NOT NULL,
    product_id       INTEGER NOT NULL REFERENCES products (id),
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    event    TEXT NOT NULL,
    at       INTEGER NOT NULL
);
