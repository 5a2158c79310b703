-- The sweeper's look for images whose job was lost reads only the unfinished ones.
CREATE INDEX images_unfinished ON images (updated_at) WHERE status IN ('QUEUED', 'PROCESSING');
-- One row per fleet-wide check: the worker that moves ran_at forward runs it, the others skip it,
-- so the checks that scan every image run once per interval, not once per worker.
CREATE TABLE sweep_leases (
  name text PRIMARY KEY,
  ran_at timestamptz NOT NULL
);
