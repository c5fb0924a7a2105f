// A decompression bomb uploaded through the real local platform (issue 14, finding 2): the ingest
// function extracts in a worker thread (the platform runs under tsx, which the worker inherits),
// refuses the PDF whose content stream inflates to 1 GiB, and the document ends `failed` with the
// reason, while a real PDF uploaded beside it still becomes `ready`.

import { createDeflate } from 'node:zlib';
import { describe, expect, it } from '@jest/globals';
import { makePdf, prose } from '../fixtures/documents/pdf.ts';
import { uploadDocument, waitForDocument } from '../support/knowledge.ts';
import { api, platform } from '../support/platform.ts';

/** One page whose FlateDecode content stream is `size` spaces, deflated as it is written. */
async function bombPdf(size: number): Promise<Uint8Array> {
  const deflate = createDeflate({ level: 9 });
  const compressed: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => compressed.push(chunk));
  const done = new Promise((resolve) => deflate.on('end', resolve));
  const spaces = Buffer.alloc(1 << 20, ' ');
  for (let left = size; left > 0; left -= spaces.length) {
    if (!deflate.write(spaces)) await new Promise((resolve) => deflate.once('drain', resolve));
  }
  deflate.end();
  await done;
  const objects =
    '%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n' +
    '2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n' +
    '3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>\nendobj\n' +
    '4 0 obj\n<< /Filter /FlateDecode >>\nstream\n';
  return Buffer.concat([
    Buffer.from(objects, 'latin1'),
    ...compressed,
    Buffer.from('\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n', 'latin1'),
  ]);
}

describe('a PDF decompression bomb uploaded to the platform', () => {
  it('ends failed with the reason, and a real PDF beside it is still indexed', async () => {
    const created = await api('/admin/tenants', {
      method: 'POST',
      key: platform().operatorKey,
      body: { name: 'Bomb squad' },
    });
    expect(created.status).toBe(201);
    const key: string = created.json.apiKey;
    const bot = await api('/admin/bots', { method: 'POST', key, body: { name: 'Bot' } });
    expect([bot.status, bot.json?.error]).toEqual([201, undefined]);
    const botId: string = bot.json.bot.id;

    const bomb = await bombPdf(1024 * 1024 * 1024);
    expect(bomb.byteLength).toBeLessThan(1.5 * 1024 * 1024);
    const refused = await uploadDocument(key, botId, {
      filename: 'bomb.pdf',
      contentType: 'application/pdf',
      bytes: bomb,
    });
    const fine = await uploadDocument(key, botId, {
      filename: 'fine.pdf',
      contentType: 'application/pdf',
      bytes: makePdf([{ heading: 'Harbour', paragraphs: [prose(3, 4)] }]),
    });

    expect(await waitForDocument(key, botId, refused.id)).toMatchObject({
      status: 'failed',
      error:
        'The PDF cannot be read safely: a stream inflates to more than 128 MB (it may be a decompression bomb)',
    });
    expect((await waitForDocument(key, botId, fine.id)).status).toBe('ready');
  }, 180_000);
});
