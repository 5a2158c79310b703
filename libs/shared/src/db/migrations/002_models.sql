-- The model the workers embed with. The API reads it to search the right vectors: it never loads a model.
CREATE TABLE models (
  id           text PRIMARY KEY,
  dimension    integer NOT NULL,
  info         jsonb NOT NULL,
  activated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
