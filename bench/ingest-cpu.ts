// bench/ingest-cpu: the CPU side of ingestion, in one process, on generated documents.
//
//   node --import tsx bench/ingest-cpu.ts        (BENCH_PAGES=200 BENCH_FILES=1000 BENCH_RUNS=5)
//
// - Extraction: a generated 200-page PDF (headings and paragraphs in the standard Helvetica fonts,
//   Flate-compressed) through pdf.js, and 1,000 small text files (Markdown, text, CSV, HTML).
// - Splitting: our structure-aware chunker against LangChain's RecursiveCharacterTextSplitter
//   (chunkSize 1000, chunkOverlap 200) on the same section texts, plus one large single section to
//   show how each scales. Median of BENCH_RUNS runs after a warm-up; the ratio is ours / LangChain's.
// - Memory: this process's peak RSS (under tsx, which transpiles pdf.js as it loads and so adds a few
//   hundred MB), and the PDF extraction again in a child process running the code as Lambda does:
//   one esbuild bundle built with the stack's options (lib/bundling.ts), plain Node, pdf.js's
//   standard_fonts/ and cmaps/ copied beside it, no node_modules.
// Figures only: nothing here asserts a time.

import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { RecursiveCharacterTextSplitter } from '@langchain/textsplitters';
import { build } from 'esbuild';
import { esbuildOptions } from '../lib/bundling.ts';
import { chunkDocument } from '../shared/ingestion/chunker.ts';
import { extractDocument } from '../shared/ingestion/extract.ts';
import type { DocumentType, ExtractedDocument } from '../shared/ingestion/types.ts';
import { makePdf, type PdfPage, prose } from '../test/fixtures/documents/pdf.ts';

const PAGES = Number(process.env.BENCH_PAGES ?? 200);
const FILES = Number(process.env.BENCH_FILES ?? 1000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SIZE = 1000;
const OVERLAP = 200;

const encoder = new TextEncoder();
const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const run = promisify(execFile);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function time<T>(work: () => Promise<T> | T): Promise<{ ms: number; result: T }> {
  const started = performance.now();
  const result = await work();
  return { ms: performance.now() - started, result };
}

function pdfPages(count: number): PdfPage[] {
  return Array.from({ length: count }, (_, page) => ({
    heading: `Section ${page + 1}: ${prose(page, 1).slice(0, 40)}`,
    paragraphs: Array.from({ length: 5 }, (_, p) => prose(page * 10 + p, 4)),
  }));
}

function textFile(index: number): { type: DocumentType; bytes: Uint8Array } {
  const body = (n: number) => prose(index * 100 + n, 6 + (index % 10));
  switch (index % 4) {
    case 0:
      return {
        type: 'md',
        bytes: encoder.encode(
          `# Guide ${index}\n\n${body(1)}\n\n## Details\n\n- **First** point: ${body(2)}\n- [Link](https://example.com) ${body(3)}\n\n### Notes\n\n${body(4)}\n`,
        ),
      };
    case 1:
      return { type: 'txt', bytes: encoder.encode(`${body(1)}\n\n${body(2)}\n\n${body(3)}\n`) };
    case 2: {
      const rows = Array.from(
        { length: 20 + (index % 30) },
        (_, r) => `${r},"${prose(index + r, 1)}",${r * 7}`,
      );
      return { type: 'csv', bytes: encoder.encode(`id,description,amount\r\n${rows.join('\r\n')}\r\n`) };
    }
    default:
      return {
        type: 'html',
        bytes: encoder.encode(
          `<!doctype html><html><head><title>Page ${index}</title><script>var x=1</script><style>p{}</style></head><body><nav><a href="/">Home</a></nav><h1>Page ${index}</h1><p>${body(1)}</p><h2>More</h2><p>${body(2)}</p><ul><li>${body(3)}</li></ul></body></html>`,
        ),
      };
  }
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(2);
}

async function compareSplitters(label: string, texts: string[]): Promise<void> {
  const bytes = texts.reduce((sum, text) => sum + encoder.encode(text).length, 0);
  const docs: ExtractedDocument[] = texts.map((text) => ({ sections: [{ text }], units: 1 }));
  const langchain = new RecursiveCharacterTextSplitter({ chunkSize: SIZE, chunkOverlap: OVERLAP });

  const ours = async () => {
    let chunks = 0;
    for (const doc of docs) chunks += chunkDocument(doc, { size: SIZE, overlap: OVERLAP }).length;
    return chunks;
  };
  const theirs = async () => {
    let chunks = 0;
    for (const text of texts) chunks += (await langchain.splitText(text)).length;
    return chunks;
  };
  await ours();
  await theirs();
  const oursMs: number[] = [];
  const theirsMs: number[] = [];
  let oursChunks = 0;
  let theirsChunks = 0;
  for (let run = 0; run < RUNS; run++) {
    const a = await time(ours);
    oursMs.push(a.ms);
    oursChunks = a.result;
    const b = await time(theirs);
    theirsMs.push(b.ms);
    theirsChunks = b.result;
  }
  const oursMedian = median(oursMs);
  const theirsMedian = median(theirsMs);
  console.log(
    `\nsplitting ${label}: ${texts.length} texts, ${mb(bytes)} MB (size ${SIZE}, overlap ${OVERLAP})`,
  );
  for (const [name, ms, chunks] of [
    ['parley chunker', oursMedian, oursChunks],
    ['langchain RecursiveCharacterTextSplitter', theirsMedian, theirsChunks],
  ] as const) {
    console.log(
      `  ${name.padEnd(42)} ${ms.toFixed(1).padStart(9)} ms  ${String(chunks).padStart(6)} chunks  ${Math.round(
        (chunks / ms) * 1000,
      )
        .toLocaleString('en-US')
        .padStart(10)} chunks/s  ${(bytes / 1e6 / (ms / 1000)).toFixed(1).padStart(7)} MB/s`,
    );
  }
  console.log(`  ratio (langchain time / ours): ${(theirsMedian / oursMedian).toFixed(1)}x faster`);
}

async function main(): Promise<void> {
  console.log(`ingest-cpu on Node ${process.versions.node}, ${RUNS} runs per splitter figure (median)`);

  // PDF extraction.
  const pdf = makePdf(pdfPages(PAGES));
  const pdfRuns: number[] = [];
  let pdfDoc: ExtractedDocument | undefined;
  for (let run = 0; run < Math.max(1, Math.min(RUNS, 3)); run++) {
    const { ms, result } = await time(() => extractDocument(pdf, 'pdf'));
    pdfRuns.push(ms);
    pdfDoc = result;
  }
  if (!pdfDoc) throw new Error('no PDF result');
  const pdfMs = median(pdfRuns);
  console.log(
    `\nPDF extraction: ${PAGES} pages, ${mb(pdf.length)} MB → ${pdfDoc.sections.length} page sections; ` +
      `first run ${(pdfRuns[0] ?? 0).toFixed(0)} ms (loads pdf.js), median ${(pdfMs / 1000).toFixed(2)} s, ` +
      `${Math.round((PAGES / pdfMs) * 1000)} pages/s`,
  );

  // Text files.
  const files = Array.from({ length: FILES }, (_, index) => textFile(index));
  const fileBytes = files.reduce((sum, file) => sum + file.bytes.length, 0);
  const textDocs: ExtractedDocument[] = [];
  const fileRuns: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    textDocs.length = 0;
    const { ms } = await time(async () => {
      for (const file of files) textDocs.push(await extractDocument(file.bytes, file.type));
    });
    fileRuns.push(ms);
  }
  const filesMs = median(fileRuns);
  console.log(
    `text extraction: ${FILES} files (md, txt, csv, html), ${mb(fileBytes)} MB → ` +
      `${textDocs.reduce((sum, doc) => sum + doc.sections.length, 0)} sections; median ${filesMs.toFixed(0)} ms, ` +
      `${Math.round((FILES / filesMs) * 1000).toLocaleString('en-US')} files/s`,
  );

  // Splitting: the same section texts through both splitters.
  const sections = [...pdfDoc.sections, ...textDocs.flatMap((doc) => doc.sections)].map(
    (section) => section.text,
  );
  await compareSplitters('every extracted section', sections);
  const big = Array.from({ length: 400 }, (_, i) => prose(i, 12)).join('\n\n');
  await compareSplitters('one large section', [
    big.repeat(Math.ceil(2_000_000 / big.length)).slice(0, 2_000_000),
  ]);

  const { maxRSS } = process.resourceUsage();
  console.log(`\npeak RSS of this process (tsx): ${(maxRSS / 1024).toFixed(0)} MB`);
  await bundledPdfExtraction(pdf);
}

/** The PDF extraction in a fresh plain-Node process from a Lambda-style bundle: time and peak RSS. */
async function bundledPdfExtraction(pdf: Uint8Array): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-ingest-'));
  try {
    const options = esbuildOptions(join(dir, 'entry.ts'), dir, join(REPO_ROOT, 'tsconfig.json'));
    const { entryPoints: _entry, ...rest } = options;
    await build({
      ...rest,
      stdin: {
        contents: "export { extractDocument } from './shared/ingestion/extract.ts';",
        resolveDir: REPO_ROOT,
        sourcefile: 'bench-entry.ts',
        loader: 'ts',
      },
    });
    const pdfjs = dirname(createRequire(import.meta.url).resolve('pdfjs-dist/package.json'));
    for (const folder of ['standard_fonts', 'cmaps']) {
      cpSync(join(pdfjs, folder), join(dir, 'pdfjs-dist', folder), { recursive: true });
    }
    writeFileSync(join(dir, 'bench.pdf'), pdf);
    const script = `
      import { readFileSync } from 'node:fs';
      const { extractDocument } = await import(${JSON.stringify(pathToFileURL(join(dir, 'index.mjs')).href)});
      const bytes = new Uint8Array(readFileSync(${JSON.stringify(join(dir, 'bench.pdf'))}));
      const runs = [];
      let pages = 0;
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        pages = (await extractDocument(bytes, 'pdf')).units;
        runs.push(performance.now() - t);
      }
      runs.sort((a, b) => a - b);
      console.log(JSON.stringify({ pages, medianMs: runs[1], maxRssKb: process.resourceUsage().maxRSS }));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: dir });
    const line = stdout.trim().split('\n').at(-1) ?? '{}';
    const result = JSON.parse(line) as { pages: number; medianMs: number; maxRssKb: number };
    console.log(
      `bundled (plain Node, as on Lambda): ${result.pages} pages, median ${(result.medianMs / 1000).toFixed(2)} s, ` +
        `${Math.round((result.pages / result.medianMs) * 1000)} pages/s, peak RSS ${(result.maxRssKb / 1024).toFixed(0)} MB`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
