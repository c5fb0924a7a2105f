// Hostile documents (issue 14, finding 2): decompression bombs, page-count bombs and files that
// take too long or too much memory. Every bomb is built here, while the test runs, streamed so
// that building it costs little memory; extraction must refuse it with a reason, quickly, and
// without the memory the bomb would take to open.

import { readFileSync, writeFileSync } from 'node:fs';
import { createDeflate } from 'node:zlib';
import { afterAll, describe, expect, it } from '@jest/globals';
import { extractDocument } from '../../shared/ingestion/extract.ts';
import {
  closeExtractionWorkers,
  extractInSandbox,
  extractionWorkersStarted,
} from '../../shared/ingestion/extract-sandbox.ts';
import { type DocumentType, ExtractionError } from '../../shared/ingestion/types.ts';
import { makePdf, prose } from '../fixtures/documents/pdf.ts';
import { deflatedZeros, docxParts, makeZip } from '../fixtures/documents/zip.ts';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** zlib's deflate (the FlateDecode format) of `size` spaces, streamed a megabyte at a time. */
async function deflatedSpaces(size: number): Promise<Buffer> {
  const deflate = createDeflate({ level: 9 });
  const out: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => out.push(chunk));
  const ended = new Promise((resolve) => deflate.on('end', resolve));
  const block = Buffer.alloc(MIB, 0x20);
  for (let written = 0; written < size; written += block.length) {
    if (!deflate.write(block)) await new Promise((resolve) => deflate.once('drain', resolve));
  }
  deflate.end();
  await ended;
  return Buffer.concat(out);
}

interface PdfBomb {
  /** The content stream's /Filter (none when absent) and bytes. */
  readonly filter?: string;
  readonly content: Uint8Array;
  /** Pages, all showing the content stream. */
  readonly pages?: number;
  /** More Flate streams, referenced by nothing. */
  readonly others?: readonly Uint8Array[];
}

/** A PDF written by hand. No cross-reference table: pdf.js rebuilds it, as for damaged files. */
function pdfOf({ filter, content, pages = 1, others = [] }: PdfBomb): Buffer {
  const text = (value: string) => Buffer.from(value, 'latin1');
  const stream = (number: number, dictionary: string, data: Uint8Array) => [
    text(`${number} 0 obj << /Length ${data.length}${dictionary} >>\nstream\n`),
    data,
    text('\nendstream endobj\n'),
  ];
  const kids = Array.from({ length: pages }, (_, n) => `${n + 4} 0 R`).join(' ');
  const parts = [
    text('%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n'),
    text(`2 0 obj << /Type /Pages /Kids [${kids}] /Count ${pages} >> endobj\n`),
    ...stream(3, filter ? ` /Filter ${filter}` : '', content),
  ];
  for (let n = 0; n < pages; n++) {
    parts.push(
      text(`${n + 4} 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R >> endobj\n`),
    );
  }
  for (const [n, data] of others.entries())
    parts.push(...stream(pages + 4 + n, ' /Filter /FlateDecode', data));
  parts.push(text('trailer << /Root 1 0 R >>\n%%EOF\n'));
  return Buffer.concat(parts);
}

async function refusal(extraction: Promise<unknown>): Promise<string> {
  try {
    await extraction;
  } catch (error) {
    expect(error).toBeInstanceOf(ExtractionError);
    return (error as ExtractionError).reason;
  }
  throw new Error('extraction succeeded');
}

/** A resident-memory figure of this process from /proc/self/status (VmRSS, VmHWM), in bytes. */
const statusBytes = (field: 'VmRSS' | 'VmHWM') =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) *
  1024;

/**
 * How far resident memory rises above where it is now, from now on: the kernel's high-water mark,
 * reset to the current size first (clear_refs 5), so what earlier test files left in this jest
 * worker does not count.
 */
function memoryRise(): () => number {
  writeFileSync('/proc/self/clear_refs', '5');
  const start = statusBytes('VmRSS');
  return () => statusBytes('VmHWM') - start;
}

const plainText = new TextEncoder().encode('Plain words.');

/** Extraction workers started since the last call (the warm one is reused, a suspect one replaced). */
function workerStarts(): () => number {
  const before = extractionWorkersStarted();
  return () => extractionWorkersStarted() - before;
}

afterAll(closeExtractionWorkers);

describe('a PDF decompression bomb', () => {
  let bomb: Buffer;

  it('is about 1 MB and inflates to 1 GiB', async () => {
    bomb = pdfOf({ filter: '/FlateDecode', content: await deflatedSpaces(GIB) });
    expect(bomb.length).toBeLessThan(1.5 * MIB);
  }, 60_000);

  it('is refused with the reason, quickly and in far less memory than opening it took (2.7 GB)', async () => {
    const rise = memoryRise();
    const started = performance.now();
    expect(await refusal(extractDocument(bomb, 'pdf'))).toBe(
      'The PDF cannot be read safely: a stream inflates to more than 128 MB (it may be a decompression bomb)',
    );
    // Opening it took minutes; the bound is loose so a loaded CI machine still passes it.
    expect(performance.now() - started).toBeLessThan(30_000);
    expect(rise()).toBeLessThan(GIB);
  }, 60_000);

  it('is refused the same way in the extraction worker', async () => {
    const rise = memoryRise();
    expect(await refusal(extractInSandbox(bomb, 'pdf'))).toMatch(/a stream inflates to more than 128 MB/);
    expect(rise()).toBeLessThan(GIB);
  }, 60_000);

  it('refuses streams that inflate past the total limit together, though each is small', async () => {
    const limits = { maxStreamBytes: 8 * MIB, maxDecodedBytes: 12 * MIB };
    const data = await deflatedSpaces(5 * MIB);
    // Three streams of 5 MiB each: every one is within 8 MiB, together they are 15 MiB.
    const all = pdfOf({ filter: '/FlateDecode', content: data, others: [data, data] });
    expect(await refusal(extractDocument(all, 'pdf', limits))).toBe(
      'The PDF cannot be read safely: its streams inflate to more than 12 MB in all (it may be a decompression bomb)',
    );
  }, 60_000);

  it('behind another filter, which the scan cannot read, is still refused in the worker', async () => {
    // ASCIIHex-encoded Flate: the stream's bytes are hex digits, not a zlib stream, so only
    // decoding it shows what it holds; pdf.js does, and the worker refuses the buffer it grows.
    const hex = Buffer.from((await deflatedSpaces(400 * MIB)).toString('hex'), 'latin1');
    const wrapped = pdfOf({ filter: '[/ASCIIHexDecode /FlateDecode]', content: hex });
    expect(wrapped.length).toBeLessThan(2 * MIB);
    await closeExtractionWorkers();
    const started = workerStarts();
    await extractInSandbox(plainText, 'txt');
    expect(await refusal(extractInSandbox(wrapped, 'pdf'))).toBe(
      'The document cannot be read safely: a part of it decodes to more than 256 MB (it may be a decompression bomb)',
    );
    expect(started()).toBe(1);
    // The bomb ran in the warm worker, whose heap may hold what it built: the next document gets a fresh one.
    expect(await extractInSandbox(plainText, 'txt')).toEqual(await extractDocument(plainText, 'txt'));
    expect(started()).toBe(2);
  }, 60_000);
});

describe('a PDF with too many pages', () => {
  it('is refused before any page is read', async () => {
    const content = Buffer.from('BT /F1 12 Tf 72 720 Td (One more page.) Tj ET');
    const pages = pdfOf({ content, pages: 2001 });
    const started = performance.now();
    expect(await refusal(extractDocument(pages, 'pdf'))).toBe('The PDF has 2,001 pages; the limit is 2,000');
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});

describe('the extraction worker', () => {
  const pdf = makePdf([
    { heading: 'One', paragraphs: [prose(1, 4)] },
    { heading: 'Two', paragraphs: [prose(2, 4)] },
  ]);

  it('extracts what extraction in the process extracts', async () => {
    expect(await extractInSandbox(pdf, 'pdf')).toEqual(await extractDocument(pdf, 'pdf'));
    expect(await extractInSandbox(plainText, 'txt')).toEqual(await extractDocument(plainText, 'txt'));
  }, 60_000);

  it('extracts one document after another in the same warm worker', async () => {
    await closeExtractionWorkers();
    const started = workerStarts();
    expect(await extractInSandbox(pdf, 'pdf')).toEqual(await extractDocument(pdf, 'pdf'));
    expect(await extractInSandbox(plainText, 'txt')).toEqual(await extractDocument(plainText, 'txt'));
    expect(await extractInSandbox(pdf, 'pdf')).toEqual(await extractDocument(pdf, 'pdf'));
    expect(started()).toBe(1);
  }, 60_000);

  it('gives documents extracted at once a worker each, and keeps both warm', async () => {
    await closeExtractionWorkers();
    const started = workerStarts();
    const expected = [await extractDocument(pdf, 'pdf'), await extractDocument(plainText, 'txt')];
    const both = () => Promise.all([extractInSandbox(pdf, 'pdf'), extractInSandbox(plainText, 'txt')]);
    expect(await both()).toEqual(expected);
    expect(started()).toBe(2);
    expect(await both()).toEqual(expected);
    expect(started()).toBe(2);
  }, 60_000);

  // In a fresh worker, the deadline ends it while it is still loading the extractors.
  it.each<[DocumentType, Uint8Array]>([
    ['pdf', pdf],
    ['txt', plainText],
  ])('ends %s extraction at the deadline, with the reason', async (type, bytes) => {
    await closeExtractionWorkers();
    const started = performance.now();
    expect(await refusal(extractInSandbox(bytes, type, { deadlineMs: 100 }))).toBe(
      'Extraction took longer than 0.1 s; the file may be malformed or too complex',
    );
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('ends extraction at the deadline in a warm worker, and the next document gets a fresh one', async () => {
    // About a second's work for a warm worker.
    const long = makePdf(
      Array.from({ length: 1000 }, (_, i) => ({ heading: `Chapter ${i}`, paragraphs: [prose(i, 6)] })),
    );
    await closeExtractionWorkers();
    const started = workerStarts();
    await extractInSandbox(pdf, 'pdf');
    expect(await refusal(extractInSandbox(long, 'pdf', { deadlineMs: 100 }))).toBe(
      'Extraction took longer than 0.1 s; the file may be malformed or too complex',
    );
    expect(started()).toBe(1);
    expect(await extractInSandbox(pdf, 'pdf')).toEqual(await extractDocument(pdf, 'pdf'));
    expect(started()).toBe(2);
  }, 60_000);

  it('ends extraction that needs more memory than the ceiling, with the reason', async () => {
    const words = new TextEncoder().encode('many words '.repeat(4 * MIB));
    const started = workerStarts();
    expect(await refusal(extractInSandbox(words, 'txt', { heapMb: 32 }))).toBe(
      'Extraction needed more than 32 MB of memory; the file may be malformed or too complex',
    );
    // Workers of another heap are not shared, and one that ran out of memory is not reused.
    expect(await extractInSandbox(plainText, 'txt', { heapMb: 32 })).toEqual(
      await extractDocument(plainText, 'txt'),
    );
    expect(started()).toBe(2);
  }, 60_000);

  it('still refuses a DOCX zip bomb', async () => {
    const zeros = await deflatedZeros(100 * MIB);
    const bomb = makeZip([
      ...docxParts([{ text: 'Looks harmless.' }]).filter((part) => part.name !== 'word/document.xml'),
      { name: 'word/document.xml', compressed: zeros },
    ]);
    expect(await refusal(extractInSandbox(bomb, 'docx'))).toBe(
      'The Word document would expand to 100 MB when unpacked, above the 64 MB limit (it may be a zip bomb)',
    );
  }, 60_000);
});
