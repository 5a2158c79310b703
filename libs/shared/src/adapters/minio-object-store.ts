import * as Minio from 'minio';
import type { ObjectStore } from '../ports.js';

export interface MinioStoreOptions {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
}

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'NotFound' || code === 'NoSuchKey';
}

/** Originals in MinIO or any S3-speaking store. */
export class MinioObjectStore implements ObjectStore {
  private constructor(
    private readonly client: Minio.Client,
    private readonly bucket: string,
  ) {}

  static async connect(options: MinioStoreOptions): Promise<MinioObjectStore> {
    const url = new URL(options.endpoint);
    const useSSL = url.protocol === 'https:';
    const client = new Minio.Client({
      endPoint: url.hostname,
      port: url.port ? Number(url.port) : useSSL ? 443 : 80,
      useSSL,
      accessKey: options.accessKey,
      secretKey: options.secretKey,
      region: options.region,
      pathStyle: true,
    });
    if (!(await client.bucketExists(options.bucket))) {
      try {
        await client.makeBucket(options.bucket, options.region);
      } catch (error) {
        // Another replica made it between our check and our call.
        const code = (error as { code?: string }).code;
        if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw error;
      }
    }
    return new MinioObjectStore(client, options.bucket);
  }

  async put(key: string, data: Buffer, contentType: string): Promise<void> {
    // The size is given: single-part upload (s3rver and small objects need no multipart).
    await this.client.putObject(this.bucket, key, data, data.length, { 'Content-Type': contentType });
  }

  async get(key: string): Promise<Buffer> {
    const stream = await this.client.getObject(this.bucket, key);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.statObject(this.bucket, key);
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.removeObject(this.bucket, key);
  }
}
