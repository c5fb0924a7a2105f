import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import type { ExtractedSections } from '../../shared/ingestion/types.ts';

// Hostile Markdown and HTML (issue 14, finding 3): the shapes that make backtracking regexes and
// naive parsers quadratic, hundreds of kilobytes to a megabyte each. The old Markdown extractor
// took 67 s for `**a ` repeated over 320 KB; each shape here must be extracted within BUDGET_MS
// and still give the text a reader sees.
//
// Each extraction runs in a child process: neither a jest timeout nor terminating a worker thread
// interrupts a regex that is backtracking, but a killed process stops, so a super-linear extractor
// fails at the budget instead of holding the run for minutes.

/** Generous: a busy machine with two cores runs these; the old code needed over 10 s for most. */
const BUDGET_MS = 5000;

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const EXTRACTORS = {
  md: {
    module: new URL('../../shared/ingestion/extract/markdown.ts', import.meta.url).href,
    name: 'extractMarkdown',
  },
  html: {
    module: new URL('../../shared/ingestion/extract/html.ts', import.meta.url).href,
    name: 'extractHtml',
  },
};

/** The child: loads the extractor (tsx compiles it), says it is ready, extracts its stdin to JSON. */
const CHILD = `
const extractor = await import(process.argv[1]);
process.stdout.write('ready\\n');
let source = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) source += chunk;
process.stdout.write(JSON.stringify(extractor[process.argv[2]](source)));
`;

async function extractWithin(format: keyof typeof EXTRACTORS, source: string): Promise<ExtractedSections> {
  const { module, name } = EXTRACTORS[format];
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', CHILD, module, name],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: '' },
    },
  );
  try {
    let output = '';
    let errors = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      errors += chunk;
    });
    const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    const ready = new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: string) => {
        output += chunk;
        if (output.startsWith('ready\n')) resolve();
      });
    });
    await Promise.race([ready, closed]);
    if (!output.startsWith('ready\n')) throw new Error(`the extractor did not start: ${errors}`);
    const started = performance.now();
    const timer = setTimeout(() => child.kill('SIGKILL'), BUDGET_MS);
    child.stdin.end(source);
    const [code, signal] = await closed;
    clearTimeout(timer);
    if (signal === 'SIGKILL')
      throw new Error(`not extracted within ${BUDGET_MS} ms (${source.length} characters)`);
    expect({ code, errors }).toEqual({ code: 0, errors: '' });
    expect(performance.now() - started).toBeLessThan(BUDGET_MS);
    return JSON.parse(output.slice('ready\n'.length)) as ExtractedSections;
  } finally {
    child.kill('SIGKILL');
  }
}

const textOf = (doc: ExtractedSections) => doc.sections.map((section) => section.text).join('\n\n');

/**
 * Compares long texts by their length and where they first differ: jest's diff of two strings of
 * hundreds of kilobytes would itself run for minutes.
 */
function expectText(actual: string, expected: string): void {
  let at = 0;
  while (at < actual.length && actual[at] === expected[at]) at++;
  const around = (text: string) => ({
    length: text.length,
    at,
    from: JSON.stringify(text.slice(at, at + 60)),
  });
  expect(around(actual)).toEqual(around(expected));
}

/** Up to a worker start-up plus the budget, on a busy machine. */
const TEST_TIMEOUT = 30_000;

/** Shapes left as written (no delimiter in them finds a partner), with the text when it differs. */
const literalMarkdown: Array<[string, string, string?]> = [
  ['strong openers without closers', '**a '.repeat(80_000)],
  ['underscore openers without closers', '_a '.repeat(100_000)],
  ['underscore closers without openers', 'a_ '.repeat(100_000)],
  ['mismatched openers and closers', '*a_ '.repeat(80_000)],
  ['closers in runs of a multiple of three', `a**b${'c* '.repeat(100_000)}`],
  ['link openers', '['.repeat(100_000)],
  ['link openers with text', '[a'.repeat(100_000)],
  ['link closers', 'a]'.repeat(100_000)],
  ['nested brackets without a destination', `${'['.repeat(50_000)}a${']'.repeat(50_000)}`],
  ['link openers and emphasis closers', '[ a_'.repeat(60_000)],
  ['the pattern [ (]( repeated', '[ (]('.repeat(60_000)],
  ['unclosed link destinations in <>', '[a](<b'.repeat(50_000)],
  ['unclosed link destinations', '[a](b'.repeat(60_000)],
  ['image openers', '!['.repeat(60_000)],
  ['backtick runs of every length', Array.from({ length: 1400 }, (_, i) => `e${'`'.repeat(i + 1)}`).join('')],
  ['one long backtick run', `a ${'`'.repeat(1_000_000)}`],
  ['one long run of stars', `a${'*'.repeat(320_000)}a`],
  ['autolink openers without an end', '<http://a'.repeat(50_000)],
  ['a tag with a huge attribute value and no end', `x <a href="${'c'.repeat(1_000_000)}`],
  ['inline comments without an end', `a ${'<!--'.repeat(100_000)}`],
  ['escaped backslashes', '\\\\'.repeat(160_000), '\\'.repeat(160_000)],
];

describe('Markdown inline markup is read in linear time in hostile input', () => {
  // Each row has its text, so the test function takes three arguments (jest reads an extra one as `done`).
  it.each(literalMarkdown.map(([name, source, text]) => [name, source, text ?? source.trim()] as const))(
    '%s: finishes in time and keeps the text as written',
    async (_, source, text) => {
      const doc = await extractWithin('md', source);
      expectText(textOf(doc), text);
    },
    TEST_TIMEOUT,
  );

  it(
    'nested emphasis that does close: finishes in time and drops the markers',
    async () => {
      const source = `${'*a **a '.repeat(40_000)}b${' a** a*'.repeat(40_000)}`;
      const doc = await extractWithin('md', source);
      expectText(textOf(doc), source.replaceAll('*', ''));
    },
    TEST_TIMEOUT,
  );

  it(
    'many autolinks and links: finishes in time and keeps link text, URLs of autolinks',
    async () => {
      const doc = await extractWithin(
        'md',
        '<https://example.com/a> [text](https://example.com/b) '.repeat(6_000),
      );
      expectText(textOf(doc), 'https://example.com/a text '.repeat(6_000).trim());
    },
    TEST_TIMEOUT,
  );
});

describe('Markdown blocks are read in linear time in hostile input', () => {
  it(
    'a heading with a long run of spaces: finishes in time and keeps the heading',
    async () => {
      const doc = await extractWithin('md', `# a${' '.repeat(300_000)}b\n\nBody.`);
      expect(doc.sections).toEqual([{ heading: 'a b', headingPath: ['a b'], text: 'Body.' }]);
      expect(doc.title).toBe('a b');
    },
    TEST_TIMEOUT,
  );

  it(
    'a table rule with a long run of spaces: finishes in time and keeps the rows',
    async () => {
      const rule = `|-|-${' '.repeat(300_000)}x`;
      const doc = await extractWithin('md', `| a | b |\n${rule}\n| c | d |`);
      expect(textOf(doc).replace(/\s+/g, ' ')).toBe(`| a | b | |-|- x | c | d |`);
    },
    TEST_TIMEOUT,
  );

  it(
    'a table of 40 000 rows: finishes in time and keeps every row',
    async () => {
      const doc = await extractWithin('md', `| a | b |\n|---|---|\n${'| c | d |\n'.repeat(40_000)}`);
      expectText(textOf(doc), `a | b\n${'c | d\n'.repeat(40_000).trim()}`);
    },
    TEST_TIMEOUT,
  );

  it(
    'many headings: finishes in time with one section each',
    async () => {
      const doc = await extractWithin('md', '## a\n\nb\n\n'.repeat(20_000));
      expect(doc.sections).toHaveLength(20_000);
      expect(doc.sections[19_999]).toEqual({ heading: 'a', headingPath: ['a'], text: 'b' });
    },
    TEST_TIMEOUT,
  );

  it(
    'a front-matter title with a long run of spaces: finishes in time and reads the title',
    async () => {
      const doc = await extractWithin('md', `---\ntitle: a${' '.repeat(300_000)}b\n---\nText.`);
      expect(doc.title).toBe('a b');
      expectText(textOf(doc), 'Text.');
    },
    TEST_TIMEOUT,
  );

  it(
    'block quotes and lists nested beyond the parser’s depth: finishes in time and loses no text',
    async () => {
      const quotes = await extractWithin('md', `${'> '.repeat(50_000)}deep quote`);
      expect(textOf(quotes)).toMatch(/deep quote$/);
      const lists = await extractWithin(
        'md',
        Array.from({ length: 500 }, (_, i) => `${'  '.repeat(i)}* item ${i}`).join('\n'),
      );
      for (const i of [0, 100, 499]) expect(textOf(lists)).toContain(`item ${i}`);
    },
    TEST_TIMEOUT,
  );

  it(
    'a comment block without an end: finishes in time and keeps the text before it',
    async () => {
      const doc = await extractWithin('md', `Before.\n\n<!--${' <!-- a'.repeat(100_000)}`);
      expectText(textOf(doc), 'Before.');
    },
    TEST_TIMEOUT,
  );
});

describe('HTML extraction is linear in hostile input', () => {
  it(
    'deeply nested elements: finishes in time and keeps the text',
    async () => {
      const doc = await extractWithin('html', `${'<div>'.repeat(100_000)}deep${'</div>'.repeat(100_000)}`);
      expectText(textOf(doc), 'deep');
    },
    TEST_TIMEOUT,
  );

  it(
    'deeply nested elements never closed, then stray end tags: finishes in time and keeps the text',
    async () => {
      const unclosed = await extractWithin('html', `${'<span>'.repeat(100_000)}deep`);
      expectText(textOf(unclosed), 'deep');
      const stray = await extractWithin('html', `${'<div>'.repeat(50_000)}x${'</b>'.repeat(50_000)}`);
      expectText(textOf(stray), 'x');
    },
    TEST_TIMEOUT,
  );

  it(
    'huge attribute values, closed or not: finishes in time',
    async () => {
      const closed = await extractWithin('html', `<p title="${'a'.repeat(1_000_000)}">text</p>`);
      expectText(textOf(closed), 'text');
      const role = await extractWithin('html', `<div role="${' '.repeat(1_000_000)}x">text</div>`);
      expectText(textOf(role), 'text');
      const unclosed = await extractWithin('html', `<p>before</p><p title="${'a'.repeat(1_000_000)}`);
      expectText(textOf(unclosed), 'before');
    },
    TEST_TIMEOUT,
  );

  it(
    'comments without an end: finishes in time and keeps the text before them',
    async () => {
      const one = await extractWithin('html', `<p>before</p><!--${'a'.repeat(1_000_000)}`);
      expectText(textOf(one), 'before');
      const many = await extractWithin('html', `<p>before</p>${'<!--'.repeat(250_000)}`);
      expectText(textOf(many), 'before');
    },
    TEST_TIMEOUT,
  );

  it(
    'runs of < and of whitespace, and a heading full of permalinks: finishes in time',
    async () => {
      const lts = await extractWithin('html', `<p>a</p>${'<'.repeat(1_000_000)}`);
      expectText(textOf(lts), `a\n\n${'<'.repeat(1_000_000)}`);
      const spaces = await extractWithin('html', `<p>a${' \n'.repeat(500_000)}b</p>`);
      expectText(textOf(spaces), 'a b');
      const anchors = await extractWithin('html', `<h2>${'<a href="#x">¶</a>'.repeat(50_000)}T</h2><p>b</p>`);
      expect(anchors.sections).toEqual([{ heading: 'T', headingPath: ['T'], text: 'b' }]);
    },
    TEST_TIMEOUT,
  );
});
