export const IMAGE_STATUSES = ['QUEUED', 'PROCESSING', 'READY', 'FAILED'] as const;
export type ImageStatus = (typeof IMAGE_STATUSES)[number];

export type Metadata = Record<string, unknown>;

export interface ImageRecord {
  id: string;
  collection: string;
  label: string | null;
  status: ImageStatus;
  error: string | null;
  width: number | null;
  height: number | null;
  contentType: string | null;
  sha256: string;
  objectKey: string;
  sizeBytes: number;
  metadata: Metadata | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewImage {
  collection: string;
  label: string | null;
  width: number;
  height: number;
  contentType: string;
  sha256: string;
  objectKey: string;
  sizeBytes: number;
  metadata: Metadata | null;
}

/** A stored image found near a query vector. `distance` is cosine distance (0 = same direction). */
export interface NeighborHit {
  imageId: string;
  label: string | null;
  distance: number;
}

export interface ClassificationRecord {
  imageId: string;
  label: string | null;
  confidence: number;
  neighbors: NeighborHit[];
  model: string;
  createdAt: Date;
}

/** Decoded pixels, RGB, 3 bytes per pixel, row-major (HWC). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** What the header of an upload says, after its bytes were checked to be a decodable image. */
export interface ImageInfo {
  format: string;
  contentType: string;
  width: number;
  height: number;
}
