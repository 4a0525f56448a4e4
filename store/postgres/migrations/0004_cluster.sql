-- Placeholder on the budgets branch for the cluster migration (leases and
-- the queue of turns), so that 0005 applies in order; the cluster branch's
-- file of this name replaces it.
SELECT 1;
