-- Ratings of answers: one per user per answer.

CREATE TABLE feedback (
    answer     text NOT NULL,
    user_id    text NOT NULL,
    value      text NOT NULL,
    record     jsonb NOT NULL,
    PRIMARY KEY (answer, user_id)
);
