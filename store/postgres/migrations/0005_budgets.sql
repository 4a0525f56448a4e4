-- Rate budgets shared by the replicas: one token bucket (GCRA) per key
-- ("<platform>:<operation>:<workspace>:<channel>", or "<platform>:global").
-- tat is the theoretical arrival time of the next request and paused_until
-- the end of a 429's pause; '-infinity' in either means none. A row whose
-- tat and pause are past is the same as no row (a full bucket), so idle rows
-- may be deleted at any time.

CREATE TABLE budgets (
    key          text PRIMARY KEY,
    tat          timestamptz NOT NULL,
    paused_until timestamptz NOT NULL
);

-- The sweep of idle buckets reads them by the time they became idle.
CREATE INDEX budgets_idle ON budgets (greatest(tat, paused_until));

-- budget_take draws one token from each bucket of keys, all or none, on the
-- server's clock. Bucket i refills one token every interval_us[i]
-- microseconds up to burst[i]; the draw must leave keep[i] tokens in it. It
-- returns whether the tokens were drawn and, per bucket, its backlog (tat
-- minus now, at least 0) and the rest of its pause, in microseconds. Buckets
-- are locked in key order, so concurrent takers never deadlock. A take that
-- creates a bucket deletes up to 16 idle ones, so the table holds about the
-- buckets in use.
CREATE FUNCTION budget_take(keys text[], interval_us bigint[], burst int[], keep int[],
    OUT taken boolean, OUT backlog_us bigint[], OUT paused_us bigint[])
LANGUAGE plpgsql AS $$
DECLARE
    t      timestamptz := clock_timestamp();
    n      int := cardinality(keys);
    tats   timestamptz[] := array_fill('-infinity'::timestamptz, ARRAY[n]);
    pauses timestamptz[] := array_fill('-infinity'::timestamptz, ARRAY[n]);
    i      int;
    cur    timestamptz;
    pause  timestamptz;
    made   boolean := false;
BEGIN
    -- A bucket's state is worth a flush of the write-ahead log to no one:
    -- after a crash of the server, a bucket at most a few milliseconds old
    -- is the same as a full one.
    PERFORM set_config('synchronous_commit', 'off', true);
    FOR i IN SELECT o.i FROM unnest(keys) WITH ORDINALITY AS o(k, i) ORDER BY o.k LOOP
        LOOP
            SELECT b.tat, b.paused_until INTO cur, pause FROM budgets AS b WHERE b.key = keys[i] FOR UPDATE;
            EXIT WHEN FOUND;
            -- A new bucket (or one swept meanwhile): create it, then lock it.
            INSERT INTO budgets (key, tat, paused_until) VALUES (keys[i], '-infinity', '-infinity')
                ON CONFLICT (key) DO NOTHING;
            made := made OR FOUND;
        END LOOP;
        tats[i] := cur;
        pauses[i] := pause;
    END LOOP;
    IF made THEN
        DELETE FROM budgets WHERE key IN (
            SELECT key FROM budgets
            WHERE greatest(tat, paused_until) < t - interval '1 minute' AND key <> ALL (keys)
            ORDER BY greatest(tat, paused_until) LIMIT 16 FOR UPDATE SKIP LOCKED);
    END IF;
    taken := true;
    FOR i IN 1..n LOOP
        IF pauses[i] > t OR tats[i] - (burst[i] - 1 - keep[i]) * interval_us[i] * interval '1 microsecond' > t THEN
            taken := false;
        END IF;
    END LOOP;
    IF taken THEN
        FOR i IN 1..n LOOP
            tats[i] := greatest(tats[i], t) + interval_us[i] * interval '1 microsecond';
            UPDATE budgets SET tat = tats[i] WHERE key = keys[i];
        END LOOP;
    END IF;
    backlog_us := ARRAY(SELECT (extract(epoch FROM greatest(x, t) - t) * 1000000)::bigint
        FROM unnest(tats) WITH ORDINALITY AS u(x, i) ORDER BY u.i);
    paused_us := ARRAY(SELECT (extract(epoch FROM greatest(x, t) - t) * 1000000)::bigint
        FROM unnest(pauses) WITH ORDINALITY AS u(x, i) ORDER BY u.i);
END
$$;
