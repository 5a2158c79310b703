-- A re-embedding can be cancelled (cancelReembedding): a model switch rolled back, or a collection
-- re-embedding stopped. Its queued jobs are then dropped by whichever worker takes them.
ALTER TABLE reembeddings DROP CONSTRAINT reembeddings_state_check;
ALTER TABLE reembeddings ADD CONSTRAINT reembeddings_state_check CHECK (state IN ('RUNNING', 'COMPLETE', 'SUPERSEDED', 'CANCELLED'));
