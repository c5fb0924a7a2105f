// bench/chat's bundle figures: the chat functions' bundles as the stack builds them
// (lib/bundling.ts), their size and their import time in fresh Node processes.
//
// What "the chat bundle" counts, in code (the .mjs files, without source maps):
//   - cold start: `index.mjs` and the chunks it imports statically, which Lambda loads at init;
//   - a turn: that, plus the chunks the first turn imports (the model, the embedder, the vector
//     index, the reranker and the credential provider its deployment uses; TURN_MODULES);
//   - the whole asset: every chunk, including those no turn of that deployment loads.
// Import time is that of the same files, in that order, in a fresh Node 24 process with the stack's
// NODE_OPTIONS (source maps on). Baselines, same run: the same code built as one file the way the
// stack built it before code splitting (every lazy module inside, `node:http` imported as an ES
// module), and importing an empty module.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { buildSync, type Metafile } from 'esbuild';
import { BUNDLE_FILE, bundleFunction, esbuildOptions } from '../lib/bundling.ts';
import { REPO_ROOT } from '../lib/constructs/functions.ts';
import { functions } from '../shared/resources.ts';
import { median } from './support.ts';

const run = promisify(execFile);
const RUNS = 9;
const TSCONFIG = join(REPO_ROOT, 'tsconfig.json');

/**
 * What a first turn imports lazily (shared/wiring), per deployment: the stack's default (Bedrock
 * for chat, embeddings and reranking; OpenSearch) and one whose bots and embeddings use OpenAI.
 * Either way the AWS SDK reads Lambda's credentials from the environment.
 */
const TURN_MODULES: Record<string, readonly string[]> = {
  Bedrock: [
    'shared/adapters/chat/bedrock.ts',
    'shared/adapters/embedders/bedrock.ts',
    'shared/adapters/vector/opensearch.ts',
    'shared/adapters/rerank/bedrock.ts',
    'node_modules/@aws-sdk/credential-provider-env/dist-es/index.js',
  ],
  OpenAI: [
    'shared/adapters/chat/openai.ts',
    'shared/adapters/embedders/openai.ts',
    'shared/adapters/openai-key.ts',
    'shared/adapters/vector/opensearch.ts',
    'shared/adapters/rerank/bedrock.ts',
    'node_modules/@aws-sdk/credential-provider-env/dist-es/index.js',
  ],
};

/** Files imported in order (or, untimed, files counted), with their size in code. */
interface Load {
  readonly label: string;
  readonly files: readonly string[];
  readonly bytes: number;
  readonly timed: boolean;
}

/**
 * The output files holding `modules` (paths from the repository root) and the chunks they import
 * statically, each after what it imports, following the files of `after`.
 */
function loadOf(metafile: Metafile, label: string, modules: readonly string[], after?: Load): Load {
  const outputs = metafile.outputs;
  const files = [...(after?.files ?? []).map((file) => relative(REPO_ROOT, file))];
  const seen = new Set(files);
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const i of outputs[file]?.imports ?? [])
      if (i.kind === 'import-statement' && !i.external) visit(i.path);
    files.push(file);
  };
  for (const module of modules) {
    // A package's files are named through node_modules, which may be a link to elsewhere.
    const holds = (input: string) => input === module || input.endsWith(`/${module}`);
    const holders = Object.keys(outputs).filter((file) =>
      Object.keys(outputs[file]?.inputs ?? {}).some(holds),
    );
    if (holders.length === 0) throw new Error(`bench: no chunk holds ${module}; update TURN_MODULES`);
    holders.forEach(visit);
  }
  const bytes = files.reduce((sum, file) => sum + (outputs[file]?.bytes ?? 0), 0);
  return { label, files: files.map((file) => resolve(REPO_ROOT, file)), bytes, timed: true };
}

/** Time to import some files: wall-clock, and the process's CPU time (which others' load inflates less). */
interface ImportTime {
  readonly ms: number;
  readonly cpuMs: number;
}

/** Median import time of `files`, in order, in a fresh Node process. Runs of all loads interleave. */
async function importTimes(loads: readonly Load[], cwd: string): Promise<ImportTime[]> {
  const probe = [
    'globalThis.awslambda = { streamifyResponse: (fn) => fn, HttpResponseStream: { from: (s) => s } };',
    'const started = performance.now();',
    'const cpu = process.cpuUsage();',
    'for (const file of process.argv.slice(1)) await import(file);',
    'const { user, system } = process.cpuUsage(cpu);',
    'console.log(JSON.stringify({ ms: performance.now() - started, cpuMs: (user + system) / 1000 }));',
  ].join(' ');
  const env = {
    PATH: process.env.PATH ?? '',
    // As the stack sets it: Node then reads each file's source map as it loads the file.
    NODE_OPTIONS: '--enable-source-maps',
    AWS_REGION: 'us-east-1',
    TENANTS_TABLE: 't',
    SESSIONS_TABLE: 's',
    USAGE_TABLE: 'u',
    EMBEDDING_PROVIDER: 'bedrock',
  };
  const samples: ImportTime[][] = loads.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [index, load] of loads.entries()) {
      const args = ['--input-type=module', '-e', probe, ...load.files.map((f) => pathToFileURL(f).href)];
      const { stdout } = await run(process.execPath, args, { cwd, env });
      samples[index]?.push(JSON.parse(stdout.trim()) as ImportTime);
    }
  }
  return samples.map((times) => ({
    ms: median(times.map((t) => t.ms)),
    cpuMs: median(times.map((t) => t.cpuMs)),
  }));
}

/** The function's bundle as the stack builds it, and the same code as one file (the baseline). */
function bundles(name: 'chat' | 'chat-stream', dir: string): Load[] {
  const entry = functions[name].entry;
  const split = bundleFunction(join(REPO_ROOT, entry), join(dir, name), {
    projectRoot: REPO_ROOT,
    tsconfig: TSCONFIG,
  });
  const cold = loadOf(split, 'cold start: index.mjs and its chunks', [entry]);
  const turns = Object.entries(TURN_MODULES).map(([deployment, modules]) =>
    loadOf(split, `cold start and a first turn, ${deployment}`, modules, cold),
  );
  const code = Object.keys(split.outputs).filter((file) => file.endsWith('.mjs'));
  const bytes = code.reduce((sum, file) => sum + (split.outputs[file]?.bytes ?? 0), 0);
  const asset = {
    label: 'the whole asset',
    files: code.map((f) => resolve(REPO_ROOT, f)),
    bytes,
    timed: false,
  };
  const {
    outdir: _d,
    splitting: _s,
    entryNames: _e,
    chunkNames: _c,
    outExtension: _x,
    alias: _a,
    ...options
  } = esbuildOptions(join(REPO_ROOT, entry), dir, TSCONFIG);
  const outfile = join(dir, `${name}-one-file`, BUNDLE_FILE);
  const oneFile = buildSync({ ...options, outfile, absWorkingDir: REPO_ROOT, metafile: true }).metafile;
  return [cold, ...turns, asset, loadOf(oneFile, 'baseline: one file, as before splitting', [entry])];
}

/** Prints the chat bundles' size and import time (bench/chat's last section). */
export async function printChatBundles(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-chat-bundles-'));
  try {
    const empty = join(dir, 'empty.mjs');
    writeFileSync(empty, 'export const handler = () => {};\n');
    console.log(
      `the chat bundles as lib/bundling.ts builds them (code, without source maps), imported in fresh Node ${process.version} processes (median of ${RUNS}, interleaved)`,
    );
    console.log(
      `${'bundle'.padEnd(13)}${'loaded'.padEnd(46)}${'KiB'.padStart(6)}${'files'.padStart(7)}${'import ms'.padStart(11)}${'CPU ms'.padStart(9)}`,
    );
    for (const name of ['chat', 'chat-stream'] as const) {
      const loads = bundles(name, dir);
      const timed = loads.filter((load) => load.timed);
      const times = await importTimes(timed, dir);
      for (const [index, load] of loads.entries()) {
        const time = times[timed.indexOf(load)];
        console.log(
          `${(index === 0 ? name : '').padEnd(13)}${load.label.padEnd(46)}${(load.bytes / 1024)
            .toFixed(0)
            .padStart(
              6,
            )}${String(load.files.length).padStart(7)}${(time?.ms.toFixed(1) ?? '').padStart(11)}${(
            time?.cpuMs.toFixed(1) ?? ''
          ).padStart(9)}`,
        );
      }
    }
    const [emptyTime] = await importTimes([{ label: 'empty', files: [empty], bytes: 0, timed: true }], dir);
    console.log(
      `${'empty module'.padEnd(13 + 46 + 6 + 7)}${(emptyTime?.ms.toFixed(2) ?? '').padStart(11)}${(
        emptyTime?.cpuMs.toFixed(2) ?? ''
      ).padStart(9)}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
