"""Foundation: tenants and keys, stores and products, members and cards, the points ledger.

The ledger is guarded inside the database as well as in code:
- entries and allocations are append-only (updates and deletes raise);
- a lot's ``remaining`` is maintained by a trigger from the allocations inserted against it,
  so it always equals its points minus its allocations, and a direct update of it raises;
- ``remaining`` can never go below zero or above the lot's points (CHECK).

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE tenants (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    settings    jsonb NOT NULL,
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    role        text NOT NULL CHECK (role IN ('admin', 'pos')),
    name        text NOT NULL DEFAULT '',
    key_hash    bytea NOT NULL UNIQUE,
    prefix      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE stores (
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    code        text NOT NULL,
    name        text NOT NULL,
    country     text,
    city        text,
    timezone    text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, code)
);

CREATE TABLE products (
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    sku         text NOT NULL,
    name        text NOT NULL DEFAULT '',
    attributes  jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(attributes) = 'object'),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, sku)
);

CREATE TABLE members (
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    phone       text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{4,15}$'),
    email       text,
    name        text,
    birthday    date,
    city        text,
    consents    jsonb NOT NULL DEFAULT '{"sms": false, "email": false}'::jsonb,
    debt        bigint NOT NULL DEFAULT 0 CHECK (debt >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, phone)
);
CREATE UNIQUE INDEX members_email ON members (tenant_id, lower(email)) WHERE email IS NOT NULL;

CREATE TABLE cards (
    tenant_id   bigint NOT NULL,
    card        text NOT NULL,
    member_id   uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, card),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
);
CREATE INDEX cards_member ON cards (tenant_id, member_id);

-- Every movement of points. ``points`` is the change to the sum of the member's lot remainders;
-- ``debt`` the change to the member's recorded debt. Append-only.
CREATE TABLE entries (
    tenant_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    member_id   uuid NOT NULL,
    kind        text NOT NULL,
    points      bigint NOT NULL,
    debt        bigint NOT NULL DEFAULT 0,
    at          timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    receipt_id  uuid,
    operation   text,
    key         text,
    reason      text,
    data        jsonb,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
);
CREATE INDEX entries_member ON entries (tenant_id, member_id, id DESC);
CREATE UNIQUE INDEX entries_key ON entries (tenant_id, member_id, key) WHERE key IS NOT NULL;

-- Credits of points. ``remaining`` is maintained by the allocations trigger only.
CREATE TABLE lots (
    tenant_id       bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    member_id       uuid NOT NULL,
    entry_id        bigint NOT NULL,
    kind            text NOT NULL,
    points          bigint NOT NULL CHECK (points > 0),
    remaining       bigint NOT NULL,
    available_from  timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    spend_condition text,
    source          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id),
    FOREIGN KEY (tenant_id, entry_id) REFERENCES entries (tenant_id, id),
    CONSTRAINT lot_remaining_in_range CHECK (remaining >= 0 AND remaining <= points),
    CONSTRAINT lot_window CHECK (expires_at > available_from)
);
CREATE INDEX lots_member ON lots (tenant_id, member_id, expires_at);

-- Which lot each debit took from (points > 0) or each refund put back into (points < 0).
CREATE TABLE allocations (
    tenant_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    entry_id    bigint NOT NULL,
    lot_id      bigint NOT NULL,
    member_id   uuid NOT NULL,
    points      bigint NOT NULL CHECK (points <> 0),
    receipt_id  uuid,
    line        integer,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, entry_id) REFERENCES entries (tenant_id, id),
    FOREIGN KEY (tenant_id, lot_id) REFERENCES lots (tenant_id, id)
);
CREATE INDEX allocations_lot ON allocations (tenant_id, lot_id);
CREATE INDEX allocations_entry ON allocations (tenant_id, entry_id);

-- Manual adjustments by idempotency key, with the first answer kept for repeats.
CREATE TABLE adjustments (
    tenant_id   bigint NOT NULL,
    member_id   uuid NOT NULL,
    key         text NOT NULL,
    entry_id    bigint NOT NULL,
    request     jsonb NOT NULL,
    result      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, member_id, key),
    FOREIGN KEY (tenant_id, entry_id) REFERENCES entries (tenant_id, id)
);

CREATE FUNCTION patron_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'patron: % is append-only', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION patron_append_only();
CREATE TRIGGER allocations_append_only BEFORE UPDATE OR DELETE ON allocations
    FOR EACH ROW EXECUTE FUNCTION patron_append_only();

-- One statement of allocations updates each touched lot once.
CREATE FUNCTION patron_apply_allocations() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    mismatched bigint;
BEGIN
    SELECT count(*) INTO mismatched
      FROM new_allocations a JOIN lots l ON l.tenant_id = a.tenant_id AND l.id = a.lot_id
     WHERE l.member_id <> a.member_id;
    IF mismatched > 0 THEN
        RAISE EXCEPTION 'patron: allocation against another member''s lot'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    UPDATE lots l SET remaining = l.remaining - s.points
      FROM (SELECT tenant_id, lot_id, sum(points) AS points
              FROM new_allocations GROUP BY tenant_id, lot_id) s
     WHERE l.tenant_id = s.tenant_id AND l.id = s.lot_id;
    RETURN NULL;
END $$;

CREATE TRIGGER allocations_apply AFTER INSERT ON allocations
    REFERENCING NEW TABLE AS new_allocations
    FOR EACH STATEMENT EXECUTE FUNCTION patron_apply_allocations();

-- A lot's identity and amounts never change; its remainder changes only through allocations.
CREATE FUNCTION patron_guard_lot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'patron: lots are never deleted' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.points <> OLD.points OR NEW.member_id <> OLD.member_id OR NEW.entry_id <> OLD.entry_id
       OR NEW.available_from <> OLD.available_from OR NEW.expires_at <> OLD.expires_at THEN
        RAISE EXCEPTION 'patron: a lot''s points and window never change'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.remaining <> OLD.remaining AND pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'patron: a lot''s remainder changes only through allocations'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER lots_guard BEFORE UPDATE OR DELETE ON lots
    FOR EACH ROW EXECUTE FUNCTION patron_guard_lot();

-- A new lot starts full.
CREATE FUNCTION patron_new_lot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.remaining := NEW.points;
    RETURN NEW;
END $$;

CREATE TRIGGER lots_start_full BEFORE INSERT ON lots
    FOR EACH ROW EXECUTE FUNCTION patron_new_lot();
"""

DROP = """
DROP TABLE IF EXISTS adjustments, allocations, lots, entries, cards, members, products, stores, api_keys, tenants CASCADE;
DROP FUNCTION IF EXISTS patron_append_only, patron_apply_allocations, patron_guard_lot, patron_new_lot;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute(DROP)
