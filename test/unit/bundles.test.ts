import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { build } from 'esbuild';
import { BUNDLE_FILE, ESM_BANNER, esbuildOptions } from '../../lib/bundling.ts';
import { parseConfig } from '../../lib/config.ts';
import { REPO_ROOT } from '../../lib/constructs/functions.ts';
import { ParleyStack } from '../../lib/parley-stack.ts';
import { type FunctionName, functions } from '../../shared/resources.ts';

// The other tests skip CDK bundling. This one synthesizes the stack with bundling, builds every
// function's bundle with the esbuild options of lib/bundling.ts, checks both are the same code, and
// loads it on Node 24 in a fresh process with the environment the stack gives that function, as
// Lambda would: ESM `require` shims, CommonJS dependencies and module-scope code only break there.

const run = promisify(execFile);
const names = Object.keys(functions) as FunctionName[];

/**
 * Synthesizes the stack with real bundling (NodejsFunction running esbuild) and returns, per
 * function, the asset directory CDK bundled and the environment the template gives the function,
 * with references made concrete.
 */
function synthesize(outdir: string): Record<FunctionName, { asset: string; env: Record<string, string> }> {
  const app = new App({ outdir });
  const stack = new ParleyStack(app, 'Parley-test', {
    config: parseConfig({ stage: 'test', publicBaseUrl: 'https://chat.example.com' }),
  });
  const lambdas = Template.fromStack(stack).findResources('AWS::Lambda::Function');
  const result: Partial<Record<FunctionName, { asset: string; env: Record<string, string> }>> = {};
  for (const name of names) {
    const id = stack.getLogicalId(stack.functions.functions[name].node.defaultChild as CfnFunction);
    const properties = lambdas[id]?.Properties ?? {};
    const variables = (properties.Environment?.Variables ?? {}) as Record<string, unknown>;
    const key = String(properties.Code?.S3Key ?? '');
    result[name] = {
      asset: join(outdir, `asset.${key.replace(/\.zip$/, '')}`),
      env: Object.fromEntries(
        Object.entries(variables).map(([k, value]) => [
          k,
          typeof value === 'string' ? value : placeholder(k),
        ]),
      ),
    };
  }
  return result as Record<FunctionName, { asset: string; env: Record<string, string> }>;
}

function placeholder(key: string): string {
  if (/_(URL|ENDPOINT)$/.test(key)) return `https://${key.toLowerCase().replace(/_/g, '-')}.example.com`;
  if (/_ARN$/.test(key)) return `arn:aws:secretsmanager:us-east-1:000000000000:secret:${key.toLowerCase()}`;
  return `parley-test-${key.toLowerCase().replace(/_/g, '-')}`;
}

let outRoot: string;
let synthesized: Record<FunctionName, { asset: string; env: Record<string, string> }>;

beforeAll(async () => {
  outRoot = await mkdtemp(join(tmpdir(), 'parley-bundles-'));
  synthesized = synthesize(join(outRoot, 'cdk.out'));
});

afterAll(async () => {
  await rm(outRoot, { recursive: true, force: true });
});

describe.each(names)('the %s bundle', (name) => {
  it('builds byte for byte as the stack builds it and loads on Node 24 exporting a handler', async () => {
    const outdir = join(outRoot, name);
    const result = await build(
      esbuildOptions(join(REPO_ROOT, functions[name].entry), outdir, join(REPO_ROOT, 'tsconfig.json')),
    );
    expect(result.errors).toEqual([]);

    const bundle = join(outdir, BUNDLE_FILE);
    const code = await readFile(bundle, 'utf8');
    expect(code.startsWith(ESM_BANNER)).toBe(true);
    // The same code CDK bundled for the deployment (source maps differ only in relative paths).
    expect(code === (await readFile(join(synthesized[name].asset, BUNDLE_FILE), 'utf8'))).toBe(true);
    const size = (await stat(bundle)).size;
    const mapSize = (await stat(`${bundle}.map`)).size;
    console.log(
      `${name}: ${(size / 1024).toFixed(0)} KiB bundle, ${(mapSize / 1024).toFixed(0)} KiB source map`,
    );

    // A fresh process with only what Lambda provides: the function's environment and a region.
    const probe = [
      'const mod = await import(process.argv[1]);',
      'console.log(JSON.stringify({ version: process.version, handler: typeof mod.handler }));',
    ].join(' ');
    const { stdout } = await run('node', ['--input-type=module', '-e', probe, pathToFileURL(bundle).href], {
      cwd: outdir,
      timeout: 30_000,
      env: {
        PATH: process.env.PATH ?? '',
        AWS_REGION: 'us-east-1',
        AWS_LAMBDA_FUNCTION_NAME: `parley-test-${name}`,
        ...synthesized[name].env,
      },
    });
    const lastLine = stdout.trim().split('\n').pop() ?? '';
    const loaded = JSON.parse(lastLine) as { version: string; handler: string };
    expect(loaded.version).toMatch(/^v24\./);
    expect(loaded.handler).toBe('function');
  });
});
