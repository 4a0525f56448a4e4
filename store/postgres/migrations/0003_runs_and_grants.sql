-- Run records (a run's Stop, its failure's Retry, by run id) and the
-- conversation grants of approvals ("Approve all <tool> here"). As in 0001,
-- each record is kept whole as JSON beside the columns queries filter on.

CREATE TABLE run_records (
    id         text PRIMARY KEY,
    state      text NOT NULL,
    created_ns bigint NOT NULL,
    record     jsonb NOT NULL
);

-- The sweep reads ended runs in creation order.
CREATE INDEX run_records_ended_created ON run_records (created_ns, id)
    WHERE state IN ('finished', 'stopped', 'failed', 'retried');

CREATE TABLE grants (
    key    text NOT NULL,
    tool   text NOT NULL,
    record jsonb NOT NULL,
    PRIMARY KEY (key, tool)
);
