/** The documents bucket, as the use-cases need it. */
export interface BlobStore {
  /** A browser upload form (presigned POST) pinned to one key, content type and exact size. */
  presignUpload(
    key: string,
    options: { contentType: string; size: number; expiresSeconds: number },
  ): Promise<{ url: string; fields: Record<string, string> }>;
  /** The object's size, or undefined if there is no such object. */
  size(key: string): Promise<number | undefined>;
  read(key: string): Promise<Uint8Array>;
  delete(key: string): Promise<void>;
}
