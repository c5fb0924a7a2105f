// What operators get from a request, read from the platform's log as CloudWatch would: the upload
// request's id on the ingest and embed functions' lines (across two queues), and the embedded-
// metric-format lines behind the dashboard: a chat turn's tokens, cost and stage latencies, and
// ingestion's pages, chunks and time to ready.

import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { metricNames, metricsNamespace } from '../../shared/resources.ts';
import { postForm, waitForDocument } from '../support/knowledge.ts';
import { api, platform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

interface LogLine {
  readonly [field: string]: unknown;
  readonly _aws?: { CloudWatchMetrics: { Namespace: string; Metrics: { Name: string; Unit: string }[] }[] };
}

const logLines = (): LogLine[] =>
  readFileSync(platform().logFile, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return [];
      }
    });

/** The metric lines (EMF) that carry `name`, with its unit as declared in the line. */
const metricLines = (name: string) =>
  logLines().flatMap((line) => {
    const declared = line._aws?.CloudWatchMetrics[0]?.Metrics.find((m) => m.Name === name);
    return declared
      ? [{ line, unit: declared.Unit, namespace: line._aws?.CloudWatchMetrics[0]?.Namespace }]
      : [];
  });

let key: string;
let botId: string;

beforeAll(async () => {
  const tenant = await api('/admin/tenants', {
    method: 'POST',
    key: platform().operatorKey,
    body: { name: 'Observability' },
  });
  key = tenant.json.apiKey;
  botId = (await api('/admin/bots', { method: 'POST', key, body: { name: 'Watched' } })).json.bot.id;
});

describe('an upload', () => {
  it("carries its request's id through the ingest and embed queues, and measures each stage", async () => {
    const bytes = new TextEncoder().encode(
      '# Beacons\n\nThe north beacon is lit at 19:40 every evening.\n\n## Fuel\n\nIt burns whale-free paraffin.\n',
    );
    const requested = await api(`/admin/bots/${botId}/documents`, {
      method: 'POST',
      key,
      body: { filename: 'beacons.md', contentType: 'text/markdown', size: bytes.byteLength },
    });
    expect(requested.status).toBe(201);
    const requestId = requested.headers['x-request-id'];
    expect(requestId).toMatch(/\S{8,}/);
    const documentId: string = requested.json.document.id;
    expect(
      await postForm(requested.json.upload, { filename: 'beacons.md', contentType: 'text/markdown', bytes }),
    ).toBeLessThan(300);
    expect((await waitForDocument(key, botId, documentId)).status).toBe('ready');

    // The ready line is written before the metrics line of the same batch.
    await waitFor(() =>
      metricLines(metricNames.documentsReady).some((m) => m.line.documentId === documentId),
    );
    const ofRequest = logLines().filter((line) => line.requestId === requestId);
    // Written by the ingest function (after the ingest queue) and the embed function (after the embed queue).
    expect(ofRequest.map((line) => line.message)).toEqual(
      expect.arrayContaining(['document queued for indexing', 'document ready']),
    );

    const extracted = metricLines(metricNames.pagesExtracted).find((m) => m.line.documentId === documentId);
    expect(extracted?.line).toMatchObject({ PagesExtracted: 2, ChunksCreated: expect.any(Number) });
    expect(extracted?.line.ExtractLatency).toEqual(expect.any(Number));
    const ready = metricLines(metricNames.documentsReady).find((m) => m.line.documentId === documentId);
    expect(ready?.line).toMatchObject({ DocumentsReady: 1, ChunksIndexed: extracted?.line.ChunksCreated });
    expect(ready?.line.IngestionLatency).toBeGreaterThan(0);
    expect(ready?.line.EmbedLatency).toEqual(expect.any(Number));
    expect(ready?.line.IndexLatency).toEqual(expect.any(Number));
    expect(ready?.namespace).toBe(metricsNamespace('local'));
    expect(metricLines(metricNames.ingestionLatency)[0]?.unit).toBe('Milliseconds');
  });
});

describe('a chat turn', () => {
  it('emits one metrics line: the turn, its tokens, its cost and the latency of each stage', async () => {
    const turn = await api(`/chat/${botId}`, {
      method: 'POST',
      key,
      body: { message: 'When is the beacon lit?' },
    });
    expect(turn.status).toBe(200);
    await waitFor(() => metricLines(metricNames.chatTurns).some((m) => m.line.botId === botId));
    const { line, unit } = metricLines(metricNames.chatTurns).find((m) => m.line.botId === botId) ?? {};
    expect(unit).toBe('Count');
    expect(line).toMatchObject({
      ChatTurns: 1,
      InputTokens: turn.json.usage.inputTokens,
      OutputTokens: turn.json.usage.outputTokens,
      // The offline model has no price.
      ChatCostUsd: 0,
      botId,
    });
    for (const stage of ['PrepareLatency', 'ModelLatency', 'TurnLatency']) {
      expect([stage, line?.[stage]]).toEqual([stage, expect.any(Number)]);
    }
    expect(line?.TurnLatency as number).toBeGreaterThanOrEqual(line?.ModelLatency as number);
  });
});
