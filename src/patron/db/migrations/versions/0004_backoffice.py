"""Back office: outbox, messages, channels, templates, broadcasts, webhooks.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = r"""
-- The transactional outbox: every change a worker reacts to is written here in the same
-- transaction as the change. ``id`` orders events (per member: the order they happened, since
-- each is written under the member's row lock); ``uid`` is the public event id.
CREATE TABLE outbox (
    tenant_id     bigint NOT NULL REFERENCES tenants (id),
    id            bigint GENERATED ALWAYS AS IDENTITY,
    uid           uuid NOT NULL DEFAULT gen_random_uuid(),
    type          text NOT NULL,
    member_id     uuid,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    data          jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    processed_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    available_at  timestamptz,            -- null: at once; set when a handler failed
    error         text,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (uid)
);
CREATE INDEX outbox_pending ON outbox (id) WHERE processed_at IS NULL;
CREATE INDEX outbox_member_pending ON outbox (tenant_id, member_id, id) WHERE processed_at IS NULL;

-- Channel settings (contract 9) and the token bucket of each: ``tat`` is the time at which the
-- bucket is next free (generic cell rate algorithm); every worker process reserves send slots here.
CREATE TABLE channels (
    tenant_id        bigint NOT NULL REFERENCES tenants (id),
    channel          text NOT NULL CHECK (channel IN ('sms', 'email')),
    settings         jsonb NOT NULL,
    rate_per_second  double precision CHECK (rate_per_second > 0),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel)
);

CREATE TABLE rate_buckets (
    tenant_id  bigint NOT NULL,
    channel    text NOT NULL,
    tat        timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (tenant_id, channel),
    FOREIGN KEY (tenant_id, channel) REFERENCES channels (tenant_id, channel)
);

CREATE TABLE templates (
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    trigger     text NOT NULL
                CHECK (trigger IN ('receipt', 'points_expiring', 'birthday', 'tier_changed', 'welcome')),
    channel     text NOT NULL CHECK (channel IN ('sms', 'email')),
    locale      text NOT NULL,
    subject     text,
    body        text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, trigger, channel, locale)
);

CREATE TABLE broadcasts (
    tenant_id    bigint NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    channel      text NOT NULL CHECK (channel IN ('sms', 'email')),
    locale       text NOT NULL,
    subject      text,
    body         text NOT NULL,
    filter       jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'expanding' CHECK (status IN ('expanding', 'expanded')),
    cursor       uuid,                      -- the last member looked at while expanding
    total        integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL,
    expanded_at  timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX broadcasts_expanding ON broadcasts (created_at) WHERE status = 'expanding';

-- The message log. Text is rendered when the message is queued; the recipient is read when it
-- is sent (so a changed phone or a withdrawn consent counts). ``id`` is reused on every retry.
CREATE TABLE messages (
    tenant_id        bigint NOT NULL,
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    member_id        uuid NOT NULL,
    trigger          text NOT NULL,
    channel          text NOT NULL CHECK (channel IN ('sms', 'email')),
    locale           text,
    subject          text,
    body             text NOT NULL,
    timezone         text NOT NULL,         -- the member's, for quiet hours
    status           text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    sent_at          timestamptz,
    recipient        text,
    error            text,
    broadcast_id     uuid,
    dedup_key        text,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
);
CREATE UNIQUE INDEX messages_dedup ON messages (tenant_id, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX messages_due ON messages (tenant_id, channel, next_attempt_at) WHERE status = 'queued';
CREATE INDEX messages_member ON messages (tenant_id, member_id, created_at DESC);
CREATE INDEX messages_broadcast ON messages (tenant_id, broadcast_id, status) WHERE broadcast_id IS NOT NULL;

CREATE TABLE webhooks (
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    url         text NOT NULL,
    events      text[] NOT NULL,
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    PRIMARY KEY (tenant_id, id)
);

-- One row per (webhook, event). A member's deliveries to one webhook go out in event order:
-- a delivery waits while an earlier one of the same member is pending.
CREATE TABLE webhook_deliveries (
    tenant_id        bigint NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    webhook_id       uuid NOT NULL,
    event_id         bigint NOT NULL,
    member_id        uuid,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    delivered_at     timestamptz,
    last_status      integer,
    last_error       text,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, webhook_id, event_id),
    FOREIGN KEY (tenant_id, webhook_id) REFERENCES webhooks (tenant_id, id),
    FOREIGN KEY (tenant_id, event_id) REFERENCES outbox (tenant_id, id)
);
CREATE INDEX deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_member_pending ON webhook_deliveries (tenant_id, webhook_id, member_id, event_id)
    WHERE status = 'pending';
CREATE INDEX deliveries_webhook ON webhook_deliveries (tenant_id, webhook_id, id DESC);

-- Each member's current tier as the back office last evaluated it, and when a purchase next
-- leaves the tier window (then the tier is evaluated again).
CREATE TABLE member_tiers (
    tenant_id      bigint NOT NULL,
    member_id      uuid NOT NULL,
    tier           text,
    paid           numeric(16, 4) NOT NULL DEFAULT 0,
    evaluated_at   timestamptz NOT NULL,
    next_check_at  timestamptz,
    PRIMARY KEY (tenant_id, member_id),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
);
CREATE INDEX member_tiers_check ON member_tiers (next_check_at) WHERE next_check_at IS NOT NULL;

-- Lots whose coming expiry was announced (contract 9: once per lot).
CREATE TABLE expiry_notices (
    tenant_id   bigint NOT NULL,
    lot_id      bigint NOT NULL,
    member_id   uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, lot_id),
    FOREIGN KEY (tenant_id, lot_id) REFERENCES lots (tenant_id, id)
);

-- Finding lots that expire soon without scanning every lot (a lot's expiry never changes, so
-- this index costs checkout no extra writes when remainders change).
CREATE INDEX lots_expiry ON lots (tenant_id, expires_at);
"""

DROP = """
DROP TABLE IF EXISTS expiry_notices, member_tiers, webhook_deliveries, webhooks, messages, broadcasts,
    templates, rate_buckets, channels, outbox CASCADE;
DROP INDEX IF EXISTS lots_expiry;
"""


def upgrade() -> None:
    if SCHEMA:
        op.execute(SCHEMA)


def downgrade() -> None:
    if DROP:
        op.execute(DROP)
