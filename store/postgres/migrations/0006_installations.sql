-- App installations (OAuth installs, one per workspace or per org-wide
-- install), by installation id. As in 0001, the record is kept whole as
-- JSON; its bot token is sealed (AES-GCM) by the adapter before it gets
-- here, so no column or record holds a token.

CREATE TABLE installations (
    id     text PRIMARY KEY,
    broken boolean NOT NULL DEFAULT false,
    record jsonb NOT NULL
);
