CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE images (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  collection   text NOT NULL,
  label        text,
  status       text NOT NULL DEFAULT 'QUEUED' CHECK (status IN ('QUEUED', 'PROCESSING', 'READY', 'FAILED')),
  error        text,
  width        integer,
  height       integer,
  content_type text,
  sha256       text NOT NULL,
  object_key   text NOT NULL,
  size_bytes   bigint NOT NULL,
  metadata     jsonb,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX images_collection_page ON images (collection, created_at DESC, id DESC);
CREATE INDEX images_page ON images (created_at DESC, id DESC);
CREATE INDEX images_collection_sha256 ON images (collection, sha256);
CREATE INDEX images_object_key ON images (object_key);

-- One row per image and model: vectors of two models are never compared. The column has no fixed
-- dimension so that models of several sizes can live side by side; each model gets its own partial
-- HNSW index on `embedding::vector(D)` (created when the model is first used, see PgVectorIndex).
-- collection and label are copied here so that the index scan can filter without a join.
CREATE TABLE image_embeddings (
  image_id   uuid NOT NULL REFERENCES images (id) ON DELETE CASCADE,
  model      text NOT NULL,
  collection text NOT NULL,
  label      text,
  embedding  vector NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (image_id, model)
);

CREATE TABLE classifications (
  image_id   uuid PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
  label      text,
  confidence double precision NOT NULL,
  neighbors  jsonb NOT NULL,
  model      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
