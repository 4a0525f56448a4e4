-- The bridge's durable state. Each record is kept whole as JSON (the same
-- encoding the bbolt store uses, so times keep their nanoseconds), beside the
-- columns that queries filter and sort on.

CREATE TABLE conversations (
    key        text PRIMARY KEY,
    record     jsonb NOT NULL
);

CREATE TABLE approvals (
    id         text PRIMARY KEY,
    state      text NOT NULL,
    expires_ns bigint NOT NULL,
    record     jsonb NOT NULL
);

-- The expiry sweep reads pending approvals in expiry order.
CREATE INDEX approvals_pending_expiry ON approvals (expires_ns, id) WHERE state = 'pending';

CREATE TABLE runs (
    key        text PRIMARY KEY,
    started_ns bigint NOT NULL,
    record     jsonb NOT NULL
);

CREATE TABLE dedupe (
    key        text PRIMARY KEY,
    expires_ns bigint NOT NULL
);

CREATE INDEX dedupe_expiry ON dedupe (expires_ns);
