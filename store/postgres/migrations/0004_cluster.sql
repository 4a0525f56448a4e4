-- Several replicas on one database: leases with fencing tokens (one owner
-- per conversation, per Discord shard) and the queue of turns waiting for
-- their conversation's owner.

-- Tokens come from one sequence, so a token is never given twice, even for
-- a name whose row was deleted and taken again.
CREATE SEQUENCE lease_tokens;

CREATE TABLE leases (
    name    text PRIMARY KEY,
    owner   text NOT NULL,
    token   bigint NOT NULL,
    expires timestamptz NOT NULL
);

CREATE TABLE inbox (
    seq    bigserial PRIMARY KEY,
    key    text NOT NULL,
    record jsonb NOT NULL
);

-- A conversation's turns are read in order.
CREATE INDEX inbox_key_seq ON inbox (key, seq);
