-- Model versions. Exactly one model is 'active': search and classification read only its vectors.
-- A worker that starts with another model makes it 'pending' and re-embeds every image; when the
-- last one is done the pending model becomes active in one transaction and the old one 'retired'
-- (its vectors are deleted a little later, once no search can still be reading them).
ALTER TABLE models ADD COLUMN state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'pending', 'retired'));
ALTER TABLE models ADD COLUMN retired_at timestamptz;
-- Before this migration the newest model was the live one: keep only that one active.
UPDATE models SET state = 'retired', retired_at = clock_timestamp()
 WHERE id <> (SELECT id FROM models ORDER BY activated_at DESC LIMIT 1);
CREATE UNIQUE INDEX models_one_active ON models ((true)) WHERE state = 'active';

-- A re-embedding: every image of a collection (or of all, on a model switch) embedded by `model`.
CREATE TABLE reembeddings (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  model       text NOT NULL,
  -- The model this one replaces when it completes; null for a re-embedding with the same model.
  replaces    text,
  collection  text,
  state       text NOT NULL DEFAULT 'RUNNING' CHECK (state IN ('RUNNING', 'COMPLETE', 'SUPERSEDED')),
  started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at timestamptz
);
CREATE INDEX reembeddings_running ON reembeddings (model) WHERE state = 'RUNNING';

-- One row per image to embed; a deleted image leaves the set with it.
CREATE TABLE reembedding_items (
  reembedding_id uuid NOT NULL REFERENCES reembeddings (id) ON DELETE CASCADE,
  image_id       uuid NOT NULL REFERENCES images (id) ON DELETE CASCADE,
  state          text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'DONE', 'FAILED')),
  error          text,
  PRIMARY KEY (reembedding_id, image_id)
);
CREATE INDEX reembedding_items_pending ON reembedding_items (reembedding_id) WHERE state = 'PENDING';
