-- A collection subscription that lost events while Redis was away reads back the results saved
-- since its last one, oldest first (ClassificationRepository.savedSince).
CREATE INDEX classifications_saved ON classifications (created_at, image_id);
