-- Metadata copied beside each vector (like collection and label), so a search can keep only
-- neighbours with the same metadata values (`metadata @> filter`) while it scans the HNSW index.
ALTER TABLE image_embeddings ADD COLUMN metadata jsonb;
UPDATE image_embeddings e SET metadata = i.metadata FROM images i WHERE i.id = e.image_id AND i.metadata IS NOT NULL;
