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

-- A write fenced by a lease runs this first, in the write's own
-- transaction: it fails unless the lease is still held with the writer's
-- token, and its row lock keeps a takeover from committing until the write
-- has.
CREATE FUNCTION promptev_bridge_fence(lease text, fence bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM leases WHERE name = lease AND token = fence FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'lease % is no longer held with token %', lease, fence USING ERRCODE = 'PB409';
    END IF;
END
$$;
