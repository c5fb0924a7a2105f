// Helpers for knowledge-base tests: upload a file exactly as a browser does (presigned POST form:
// the fields first, then the file), and wait for a document to finish.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect } from '@jest/globals';
import { api, REPO_ROOT } from './platform.ts';
import { waitFor } from './wait.ts';

export const CORPUS_DIR = resolve(REPO_ROOT, '../shared/corpus');
export const corpusAvailable = existsSync(CORPUS_DIR);
if (!corpusAvailable) {
  console.warn(
    `Corpus tests skipped: ${CORPUS_DIR} is missing (the real documents live beside the checkout).`,
  );
}

export interface UploadedDocument {
  id: string;
  status: string;
}

/** Requests an upload and POSTs the bytes to the returned form. */
export async function uploadDocument(
  key: string,
  botId: string,
  file: { filename: string; contentType: string; bytes: Uint8Array; declaredSize?: number },
): Promise<UploadedDocument> {
  const requested = await api(`/admin/bots/${botId}/documents`, {
    method: 'POST',
    key,
    body: {
      filename: file.filename,
      contentType: file.contentType,
      size: file.declaredSize ?? file.bytes.byteLength,
    },
  });
  expect([requested.status, requested.json?.error]).toEqual([201, undefined]);
  const { document, upload } = requested.json as {
    document: UploadedDocument;
    upload: { url: string; fields: Record<string, string> };
  };
  expect(await postForm(upload, file)).toBeLessThan(300);
  return document;
}

/** POSTs a presigned form as a browser would: every field, then the file last. */
export async function postForm(
  upload: { url: string; fields: Record<string, string> },
  file: { filename: string; contentType: string; bytes: Uint8Array },
): Promise<number> {
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
  form.append('file', new Blob([file.bytes], { type: file.contentType }), file.filename);
  const response = await fetch(upload.url, { method: 'POST', body: form });
  await response.arrayBuffer();
  return response.status;
}

/** Polls a document until it is ready or failed. */
export async function waitForDocument(
  key: string,
  botId: string,
  documentId: string,
  timeoutMs = 120_000,
): Promise<{ status: string; error?: string; chunksTotal: number; chunksIndexed: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api(`/admin/bots/${botId}/documents/${documentId}`, { key });
    const document = res.json?.document;
    if (document && (document.status === 'ready' || document.status === 'failed')) return document;
    if (Date.now() > deadline)
      throw new Error(`document ${documentId} still ${document?.status ?? res.status}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function search(key: string, botId: string, query: string, topK?: number) {
  const res = await api(`/admin/bots/${botId}/search`, { method: 'POST', key, body: { query, topK } });
  return res;
}

/** Polls until `check` holds (pipelines are asynchronous), failing after `timeoutMs`. */
export const eventually = (check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> =>
  waitFor(check, { timeoutMs, intervalMs: 250 });
