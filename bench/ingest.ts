// bench/ingest: the knowledge base's speed, from bytes to searchable chunks.
//   1. CPU stages (bench/ingest-cpu.ts): extraction pages/s on a generated 200-page PDF and 1,000
//      small files; our splitter vs LangChain's RecursiveCharacterTextSplitter on the same text.
//   2. Embedding (bench/embed.ts): the offline model's chunks/s by batch size; LanceDB upsert/search.
//   3. End to end through the local platform: upload (presigned POST, as a browser) → ready, for the
//      200-page PDF and for 1,000 small text files. The baseline, measured in the same run: the
//      offline embedder alone on the same texts, in this process, with its pool of a worker per
//      core — the ceiling of local ingestion, since embedding dominates it. The ratio shows what the
//      pipeline (S3, queues, extraction, DynamoDB, LanceDB) costs on top. And the platform's peak
//      resident memory (VmHWM) after each corpus, against its own peak before ingestion (idle, the
//      baseline) and the target of 600 MB.
//
//   npm run bench:ingest     (BENCH_PAGES, BENCH_FILES to change the corpus; BENCH_SKIP_PARTS=1 for 3 only)

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnOwnPlatform } from '../local/spawn.ts';
import { closeLocalEmbedders, createLocalEmbedder } from '../shared/adapters/embedders/local.ts';
import { chunkDocument } from '../shared/ingestion/chunker.ts';
import { extractDocument } from '../shared/ingestion/extract.ts';
import { makePdf, prose } from '../test/fixtures/documents/pdf.ts';

const PAGES = Number(process.env.BENCH_PAGES ?? 200);
const FILES = Number(process.env.BENCH_FILES ?? 1000);
const UPLOAD_CONCURRENCY = 16;
/** Issue 15's target for the platform's peak memory after this corpus. */
const TARGET_PEAK_MB = 600;

function runPart(script: string) {
  console.log(`\n── ${script} ${'─'.repeat(60 - script.length)}`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', script], {
    stdio: 'inherit',
    env: process.env,
  });
  if (result.status !== 0) throw new Error(`${script} failed`);
}

/** Peak resident memory (VmHWM) of a process, in MB. */
function peakMemoryMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

async function main() {
  if (!process.env.BENCH_SKIP_PARTS) {
    runPart('bench/ingest-cpu.ts');
    runPart('bench/embed.ts');
  }
  console.log(`\n── end to end through the local platform ${'─'.repeat(21)}`);

  const platform = await spawnOwnPlatform({
    name: 'bench-ingest',
    logFile: join(tmpdir(), 'parley-bench-ingest-platform.log'),
    env: { LOG_LEVEL: 'WARN' },
  });
  const pid = platform.child.pid ?? 0;
  try {
    const bot = await benchBot(platform.baseUrl, platform.operatorKey);
    const idlePeak = peakMemoryMb(pid);
    const pdf = await ingestPdf(bot);
    const pdfPeak = peakMemoryMb(pid);
    const files = await ingestFiles(bot);
    const filesPeak = peakMemoryMb(pid);
    const ceiling = await embedderAlone(pdf.bytes);

    console.log(
      `platform: ${platform.baseUrl}, Node ${process.version}, offline embedder (USE lite, 512-d), LanceDB`,
    );
    console.log('');
    console.log(
      'corpus                         bytes      chunks   upload→ready s   chunks/s      KB/s   vs embedder alone',
    );
    const kbps = (bytes: number, seconds: number) => bytes / 1024 / seconds;
    const row = (name: string, bytes: number, chunks: number, seconds: number) =>
      console.log(
        `${name.padEnd(28)} ${String(bytes).padStart(9)} ${String(chunks).padStart(9)} ${seconds.toFixed(1).padStart(14)} ${(chunks / seconds).toFixed(1).padStart(10)} ${kbps(bytes, seconds).toFixed(1).padStart(9)} ${`${((chunks / seconds / ceiling) * 100).toFixed(0)} %`.padStart(19)}`,
      );
    row(`PDF, ${PAGES} pages`, pdf.bytes.byteLength, pdf.chunks, pdf.seconds);
    row(`${FILES} text files`, files.bytes, files.chunks, files.seconds);
    console.log('');
    console.log(
      `uploads of the ${FILES} files took ${files.uploadedSeconds.toFixed(1)} s (${(FILES / files.uploadedSeconds).toFixed(0)} files/s)`,
    );
    console.log(
      `platform peak resident memory: ${idlePeak.toFixed(0)} MB idle before ingestion (baseline), ${pdfPeak.toFixed(0)} MB after the PDF, ${filesPeak.toFixed(0)} MB after the ${FILES} files (target ≤ ${TARGET_PEAK_MB} MB)`,
    );
    console.log(
      `embedder alone (baseline, same chunks, this process, ${availableParallelism()} workers): ${ceiling.toFixed(1)} chunks/s`,
    );
    console.log(
      '(all functions run in the platform process, the offline model in a worker thread per core: it is',
    );
    console.log(
      ' the ceiling here; in AWS, Titan embeddings run 8 calls in flight per embed invocation, 10 invocations)',
    );
  } finally {
    await platform.stop();
  }
}

type BenchBot = Awaited<ReturnType<typeof benchBot>>;

/** A tenant with room for the corpus and its bot: uploading a document, and waiting for documents to be ready. */
async function benchBot(baseUrl: string, operatorKey: string) {
  const call = async (path: string, key: string, body?: unknown) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (await res.json()) as unknown;
  };
  const tenant = (await call('/admin/tenants', operatorKey, {
    name: 'Bench',
    plan: { maxDocuments: FILES + 10, maxUploadBytes: 64 * 1024 * 1024 },
  })) as { apiKey: string };
  const key = tenant.apiKey;
  const botId = ((await call('/admin/bots', key, { name: 'Bench bot' })) as { bot: { id: string } }).bot.id;

  /** Adds a document and uploads it as a browser does (presigned POST); returns its id. */
  const upload = async (filename: string, contentType: string, bytes: Uint8Array) => {
    const created = (await call(`/admin/bots/${botId}/documents`, key, {
      filename,
      contentType,
      size: bytes.byteLength,
    })) as {
      document: { id: string };
      upload: { url: string; fields: Record<string, string> };
    };
    const form = new FormData();
    for (const [name, value] of Object.entries(created.upload.fields)) form.append(name, value);
    form.append('file', new Blob([bytes], { type: contentType }), filename);
    const res = await fetch(created.upload.url, { method: 'POST', body: form });
    if (res.status >= 300) throw new Error(`upload answered ${res.status}`);
    return created.document.id;
  };
  type Listed = { id: string; status: string; chunksTotal: number; error?: string };
  /** The bot's documents, a page of 100 at a time (one request per page, not one per document). */
  const listAll = async () => {
    const documents: Listed[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const page = (await call(`/admin/bots/${botId}/documents?limit=100${query}`, key)) as {
        items: Listed[];
        nextCursor: string | null;
      };
      documents.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return documents;
  };
  /** Polls until every document is ready (throws on a failed one); returns their chunks. */
  const waitAll = async (ids: string[]) => {
    const pending = new Set(ids);
    let chunks = 0;
    while (pending.size > 0) {
      for (const document of await listAll()) {
        if (!pending.has(document.id)) continue;
        if (document.status === 'failed') throw new Error(`${document.id} failed: ${document.error}`);
        if (document.status === 'ready') {
          pending.delete(document.id);
          chunks += document.chunksTotal;
        }
      }
      if (pending.size > 0) await new Promise((r) => setTimeout(r, 200));
    }
    return chunks;
  };
  return { upload, waitAll };
}

/** One large PDF, upload to ready. */
async function ingestPdf(bot: BenchBot) {
  const bytes = makePdf(
    Array.from({ length: PAGES }, (_, i) => ({
      heading: `Chapter ${i + 1}`,
      paragraphs: [prose(i, 6), prose(i + 1000, 5)],
    })),
  );
  const started = performance.now();
  const id = await bot.upload('handbook.pdf', 'application/pdf', bytes);
  const chunks = await bot.waitAll([id]);
  return { bytes, chunks, seconds: (performance.now() - started) / 1000 };
}

/** Many small files, uploaded 16 at a time, upload to all ready. */
async function ingestFiles(bot: BenchBot) {
  const files = Array.from({ length: FILES }, (_, i) =>
    new TextEncoder().encode(`Note ${i}\n\n${prose(i + 5000, 4)}\n`),
  );
  const started = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < files.length; i += UPLOAD_CONCURRENCY) {
    ids.push(
      ...(await Promise.all(
        files
          .slice(i, i + UPLOAD_CONCURRENCY)
          .map((bytes, j) => bot.upload(`note-${i + j}.txt`, 'text/plain', bytes)),
      )),
    );
  }
  const uploadedSeconds = (performance.now() - started) / 1000;
  const chunks = await bot.waitAll(ids);
  return {
    bytes: files.reduce((sum, f) => sum + f.byteLength, 0),
    chunks,
    seconds: (performance.now() - started) / 1000,
    uploadedSeconds,
  };
}

/** Baseline: the embedder alone, on the PDF's own chunks, in this process, every worker busy (chunks/s). */
async function embedderAlone(pdf: Uint8Array): Promise<number> {
  const texts = chunkDocument(await extractDocument(pdf, 'pdf'), { size: 1000, overlap: 200 }).map(
    (c) => c.text,
  );
  const embedder = createLocalEmbedder();
  await embedder.embed(texts.slice(0, availableParallelism() * embedder.maxBatch)); // model loads, not measured
  const started = performance.now();
  await embedder.embed(texts); // its batches spread over the workers
  const perSecond = texts.length / ((performance.now() - started) / 1000);
  await closeLocalEmbedders();
  return perSecond;
}

await main();
