// The knowledge pipeline behind the API: what deletions leave in the index, what a crash between
// indexing and counting does on redelivery, the sweeper, and uploads nobody expects. The use-cases
// run in this process against the platform's own DynamoDB Local, S3 and LanceDB (no stand-ins);
// faults are injected by wrapping a real adapter.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createDynamoUsageRepository } from '../../shared/adapters/dynamodb/usage.ts';
import {
  createLocalEmbedder,
  LOCAL_EMBEDDING_DIMENSION,
  LOCAL_EMBEDDING_MODEL,
} from '../../shared/adapters/embedders/local.ts';
import { createS3Client } from '../../shared/adapters/s3/blob-store.ts';
import { createLanceVectorIndex } from '../../shared/adapters/vector/lancedb.ts';
import type { KnowledgeDocument } from '../../shared/domain/document.ts';
import { newId } from '../../shared/domain/ids.ts';
import type { IndexMessage } from '../../shared/ingestion/messages.ts';
import { type Embedder, EmbeddingError } from '../../shared/ports/embedder.ts';
import type { Repositories } from '../../shared/ports/repositories.ts';
import type { EmbedDeps } from '../../shared/usecases/deps.ts';
import { processingStaleAt, sweepDocuments } from '../../shared/usecases/documents.ts';
import { applyEmbedMessage } from '../../shared/usecases/embed.ts';
import { type IngestDeps, ingestObject } from '../../shared/usecases/ingest.ts';
import { createIngestDeps } from '../../shared/wiring/knowledge-deps.ts';
import { eventually, uploadDocument, waitForDocument } from '../support/knowledge.ts';
import { api, platform } from '../support/platform.ts';

const text = (value: string) => new TextEncoder().encode(value);
const NOTES = `# Notes\n\nThe lighthouse keeper feeds the cat at dawn.\n\n## More\n\nThe ferry leaves at noon on Tuesdays.\n`;

let deps: IngestDeps;
const platformIndex = () =>
  createLanceVectorIndex({
    dir: join(platform().dataDir, 'lancedb'),
    modelId: LOCAL_EMBEDDING_MODEL,
    dimension: LOCAL_EMBEDDING_DIMENSION,
  });

beforeAll(() => {
  // The functions' environment (table names, emulator endpoints, credentials) for the adapters here.
  Object.assign(process.env, platform().env);
  deps = createIngestDeps();
});

async function tenantWithBots(name: string, bots = 1) {
  const created = await api('/admin/tenants', {
    method: 'POST',
    key: platform().operatorKey,
    body: { name },
  });
  const key: string = created.json.apiKey;
  const botIds: string[] = [];
  for (let i = 0; i < bots; i++)
    botIds.push(
      (await api('/admin/bots', { method: 'POST', key, body: { name: `${name} ${i}` } })).json.bot.id,
    );
  return { key, tenantId: created.json.tenant.id as string, botIds };
}

describe('deletion cascades', () => {
  it('deleting a bot, then its tenant, leaves no chunk, document record or object behind', async () => {
    const { key, tenantId, botIds } = await tenantWithBots('Cascade', 2);
    const [first = '', second = ''] = botIds;
    const a = await uploadDocument(key, first, {
      filename: 'a.md',
      contentType: 'text/markdown',
      bytes: text(NOTES),
    });
    const b = await uploadDocument(key, second, {
      filename: 'b.md',
      contentType: 'text/markdown',
      bytes: text(NOTES),
    });
    expect((await waitForDocument(key, first, a.id)).status).toBe('ready');
    expect((await waitForDocument(key, second, b.id)).status).toBe('ready');
    const index = platformIndex();
    const count = (botId: string, documentId: string) => index.countDocument({ tenantId, botId }, documentId);
    expect(await count(first, a.id)).toBeGreaterThan(0);

    // Embedding tokens were recorded for the day, per bot and for the tenant.
    const db = createDocumentClient();
    const day = new Date().toISOString().slice(0, 10);
    const usage = await db.send(
      new GetCommand({
        TableName: platform().env.USAGE_TABLE,
        Key: { pk: `TENANT#${tenantId}`, sk: `DAY#${day}#BOT#${first}` },
      }),
    );
    expect(usage.Item?.embeddingTokens).toBeGreaterThan(0);

    const docA = (await deps.repos.documents.get({
      tenantId,
      botId: first,
      documentId: a.id,
    })) as KnowledgeDocument;
    expect((await api(`/admin/bots/${first}`, { method: 'DELETE', key })).status).toBe(204);
    await eventually(async () => (await count(first, a.id)) === 0);
    expect(await count(second, b.id)).toBeGreaterThan(0);
    expect(await deps.blobs.size(docA.key)).toBeUndefined();

    const docB = (await deps.repos.documents.get({
      tenantId,
      botId: second,
      documentId: b.id,
    })) as KnowledgeDocument;
    expect(
      (await api(`/admin/tenants/${tenantId}`, { method: 'DELETE', key: platform().operatorKey })).status,
    ).toBe(204);
    await eventually(async () => (await count(second, b.id)) === 0);
    expect(await deps.blobs.size(docB.key)).toBeUndefined();
    const left = await db.send(
      new QueryCommand({
        TableName: platform().env.TENANTS_TABLE,
        KeyConditionExpression: 'pk = :p',
        ExpressionAttributeValues: { ':p': `TENANT#${tenantId}` },
      }),
    );
    expect(left.Items).toEqual([]);
  });
});

describe('redelivery', () => {
  let dir: string;
  let embedder: Embedder;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'parley-redelivery-'));
    embedder = createLocalEmbedder();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A document in `processing` with two batches to index, as the ingest function leaves it. */
  async function processingDocument(tenantId: string, botId: string) {
    const now = new Date().toISOString();
    const id = newId('doc');
    const document: KnowledgeDocument = {
      id,
      tenantId,
      botId,
      filename: 'notes.md',
      contentType: 'text/markdown',
      type: 'md',
      size: 100,
      status: 'awaiting_upload',
      chunksTotal: 0,
      chunksIndexed: 0,
      key: `tenants/${tenantId}/bots/${botId}/documents/${id}/notes.md`,
      uploadDeadline: now,
      createdAt: now,
      updatedAt: now,
    };
    const ref = { tenantId, botId, documentId: id };
    expect(await deps.repos.documents.create(document, 100)).toBe('created');
    const attempt = { id: 'msg-1', at: now, staleAt: processingStaleAt(new Date()) };
    expect(await deps.repos.documents.startProcessing(ref, attempt)).toBe(true);
    expect(await deps.repos.documents.setChunksTotal(ref, 3, 'msg-1', now)).toBe(true);
    const batch = (n: number, chunks: IndexMessage['chunks']): IndexMessage => ({
      kind: 'index',
      ...ref,
      filename: 'notes.md',
      batch: n,
      chunks,
    });
    return {
      ref,
      batches: [
        batch(0, [
          { ordinal: 0, text: 'The lighthouse keeper feeds the cat at dawn.', heading: 'Notes' },
          { ordinal: 1, text: 'Storms close the harbour.' },
        ]),
        batch(1, [{ ordinal: 2, text: 'The ferry leaves at noon on Tuesdays.', heading: 'More' }]),
      ],
    };
  }

  /** The embed worker's dependencies: the platform's tables, a LanceDB of this test, an embedder. */
  function embedDeps(with_: Embedder): EmbedDeps {
    return {
      repos: deps.repos,
      clock: deps.clock,
      index: createLanceVectorIndex({ dir, modelId: embedder.modelId, dimension: embedder.dimension }),
      embedder: with_,
      usage: createDynamoUsageRepository(createDocumentClient(), platform().env.USAGE_TABLE ?? ''),
    };
  }

  it('a crash between indexing and the count, redelivered, ends ready with no duplicate chunk and a right count', async () => {
    const { tenantId, botIds } = await tenantWithBots('Crash');
    const botId = botIds[0] ?? '';
    const base = embedDeps(embedder);
    const { index } = base;
    // The worker dies after writing the chunks, before counting them: the count call throws once.
    let crashes = 1;
    const crashing: Repositories = {
      ...deps.repos,
      documents: {
        ...deps.repos.documents,
        countIndexedBatch: async (...args) => {
          if (crashes-- > 0) throw new Error('worker killed');
          return deps.repos.documents.countIndexedBatch(...args);
        },
      },
    };
    const { ref, batches } = await processingDocument(tenantId, botId);
    const [first, second] = batches as [IndexMessage, IndexMessage];

    await expect(applyEmbedMessage({ ...base, repos: crashing }, first, false)).rejects.toThrow(
      'worker killed',
    );
    expect(await index.countDocument(ref, ref.documentId)).toBe(2);
    await applyEmbedMessage(base, first, false); // redelivery after the visibility timeout
    await applyEmbedMessage(base, second, false);
    await applyEmbedMessage(base, second, false); // a duplicate delivery of a finished batch

    const document = await deps.repos.documents.get(ref);
    expect(document).toMatchObject({ status: 'ready', chunksTotal: 3, chunksIndexed: 3 });
    expect(await index.countDocument(ref, ref.documentId)).toBe(3);
    const { vector: hits } = await index.candidates(ref, {
      vector: (await embedder.embed(['when does the ferry leave?'])).vectors[0] ?? [],
      k: 3,
      minScore: 0,
    });
    expect(hits[0]).toMatchObject({ id: `${ref.documentId}:2`, heading: 'More' });
  });

  it('on the last delivery a failing batch marks its document failed before it goes to the dead-letter queue', async () => {
    const { tenantId, botIds } = await tenantWithBots('GivesUp');
    const down: Embedder = {
      ...embedder,
      embed: async () => Promise.reject(new Error('embedding service unavailable')),
    };
    const failing = embedDeps(down);
    const { ref, batches } = await processingDocument(tenantId, botIds[0] ?? '');
    const batch = batches[0] as IndexMessage;
    await expect(applyEmbedMessage(failing, batch, false)).rejects.toThrow('unavailable');
    expect((await deps.repos.documents.get(ref))?.status).toBe('processing');
    await expect(applyEmbedMessage(failing, batch, true)).rejects.toThrow('unavailable');
    expect(await deps.repos.documents.get(ref)).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/failed repeatedly/),
    });
  });

  it('a text the embedding service refuses fails its document at once, with the reason', async () => {
    const { tenantId, botIds } = await tenantWithBots('Refused');
    const refusing: Embedder = {
      ...embedder,
      embed: async () =>
        Promise.reject(new EmbeddingError('input contains invalid characters', { retryable: false })),
    };
    const refusingDeps = embedDeps(refusing);
    const { ref, batches } = await processingDocument(tenantId, botIds[0] ?? '');
    await applyEmbedMessage(refusingDeps, batches[0] as IndexMessage, false);
    expect(await deps.repos.documents.get(ref)).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/refused.*invalid characters/),
    });
  });
});

describe('the sweeper and unexpected uploads', () => {
  it('marks documents whose upload never arrived failed, and leaves the others', async () => {
    const { key, botIds } = await tenantWithBots('Sweeper');
    const botId = botIds[0] ?? '';
    const request = (filename: string) =>
      api(`/admin/bots/${botId}/documents`, {
        method: 'POST',
        key,
        body: { filename, contentType: 'text/plain', size: 5 },
      });
    const waiting = (await request('never.txt')).json.document;
    const later = new Date(Date.now() + 60 * 60 * 1000);
    expect(await sweepDocuments({ ...deps, clock: { now: () => new Date() } })).toBe(0);
    expect(await sweepDocuments({ ...deps, clock: { now: () => later } })).toBeGreaterThanOrEqual(1);
    const swept = await api(`/admin/bots/${botId}/documents/${waiting.id}`, { key });
    expect(swept.json.document).toMatchObject({
      status: 'failed',
      error: 'The upload never arrived; upload the file again',
    });
  });

  // Audit finding: nothing checked the quota before embedding a document's chunks.
  it('fails a document whose embedding does not fit in the month’s tokens, before queueing any', async () => {
    const created = await api('/admin/tenants', {
      method: 'POST',
      key: platform().operatorKey,
      body: { name: 'Small plan', plan: { monthlyTokens: 300 } },
    });
    const key: string = created.json.apiKey;
    const botId: string = (await api('/admin/bots', { method: 'POST', key, body: { name: 'Small' } })).json
      .bot.id;
    const text = 'Parley answers from the documents of each bot, with citations. '.repeat(40);
    const small = await uploadDocument(key, botId, {
      filename: 'small.txt',
      contentType: 'text/plain',
      bytes: new TextEncoder().encode('Opening hours: nine to five.'),
    });
    expect((await waitForDocument(key, botId, small.id)).status).toBe('ready');
    const large = await uploadDocument(key, botId, {
      filename: 'large.txt',
      contentType: 'text/plain',
      bytes: new TextEncoder().encode(text),
    });
    const failed = await waitForDocument(key, botId, large.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(
      /^Indexing this document needs about [\d,]+ tokens; this plan has [\d,]+ left this month \(it renews on \d{4}-\d{2}-01\)$/,
    );
    expect(failed.chunksTotal).toBe(0);
  });

  // Audit finding: an ingest crash or timeout left a document processing forever, and a second
  // delivery of its upload event ingested it again in parallel.
  it('lets one delivery at a time claim a document, and fails one stuck processing', async () => {
    const { key, tenantId, botIds } = await tenantWithBots('Stuck');
    const botId = botIds[0] as string;
    const requested = await api(`/admin/bots/${botId}/documents`, {
      method: 'POST',
      key,
      body: { filename: 'stuck.txt', contentType: 'text/plain', size: 5 },
    });
    const ref = { tenantId, botId, documentId: requested.json.document.id as string };
    const now = new Date();
    const claim = (id: string, staleAt = processingStaleAt(now)) =>
      deps.repos.documents.startProcessing(ref, { id, at: now.toISOString(), staleAt });
    expect(await claim('msg-a')).toBe(true);
    expect(await claim('msg-b')).toBe(false);
    expect(await deps.repos.documents.setChunksTotal(ref, 2, 'msg-b', now.toISOString())).toBe(false);
    // The same message redelivered (its first delivery died) takes the document over.
    expect(await claim('msg-a', new Date(now.getTime() + 1000).toISOString())).toBe(true);

    const clockAt = (ms: number) => ({ now: () => new Date(ms) });
    expect(await sweepDocuments({ ...deps, clock: clockAt(now.getTime() + 500) })).toBe(0);
    expect(await sweepDocuments({ ...deps, clock: clockAt(now.getTime() + 2000) })).toBeGreaterThanOrEqual(1);
    const swept = await api(`/admin/bots/${botId}/documents/${ref.documentId}`, { key });
    expect(swept.json.document).toMatchObject({
      status: 'failed',
      error: 'Processing did not finish (reading or indexing the file failed repeatedly); upload it again',
    });
    expect(await claim('msg-a')).toBe(false);
  });

  it('drops an object that belongs to no document, with its object', async () => {
    const s3 = createS3Client();
    const orphan = `tenants/tnt_nobody/bots/bot_nobody/documents/${newId('doc')}/x.txt`;
    await s3.send(
      new PutObjectCommand({ Bucket: platform().env.DOCUMENTS_BUCKET, Key: orphan, Body: 'hello' }),
    );
    expect(await ingestObject(deps, orphan, 'msg-orphan')).toBe('skipped');
    expect(await deps.blobs.size(orphan)).toBeUndefined();
    expect(await ingestObject(deps, 'somewhere/else.txt', 'msg-else')).toBe('skipped');
  });
});
