import { existsSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { chunkDocument } from '../../shared/ingestion/chunker.ts';
import { parseCsv } from '../../shared/ingestion/extract/csv.ts';
import { pdfAssets } from '../../shared/ingestion/extract/pdf.ts';
import { extractDocument } from '../../shared/ingestion/extract.ts';
import { ExtractionError } from '../../shared/ingestion/types.ts';
import { makePdf, prose } from '../fixtures/documents/pdf.ts';
import { makeDocx } from '../fixtures/documents/zip.ts';

// Generated documents of every supported type: what each extractor keeps, drops and names.

const utf8 = (text: string) => new TextEncoder().encode(text);
const withBom = (text: string) => new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(text)]);

describe('Markdown', () => {
  const source = [
    '---',
    'title: Front matter is metadata',
    '---',
    'Intro paragraph before any heading, with **bold**, _emphasis_ and a [link](https://example.com/x).',
    '',
    '# Getting started',
    '',
    'Install with `npm i parley` and read the *guide*.',
    '',
    '## Install on Linux',
    '',
    '```sh',
    '# not a heading inside a fence',
    'npm i parley',
    '```',
    '',
    '### Troubleshooting',
    '',
    '| Symptom | Fix |',
    '|:--------|----:|',
    '| It hangs | Restart it |',
    '',
    'Configuration',
    '=============',
    '',
    '- first item',
    '* second item with ![diagram](img.png)',
    '',
    'Limits',
    '------',
    '',
    '> Quoted ~~old~~ text with snake_case_name and 2 * 3 * 4 and \\*literal\\*.',
    '',
    '[ref]: https://example.com/reference',
  ].join('\n');

  it('starts a section at every ATX and setext heading and keeps the text, not the markup', async () => {
    const doc = await extractDocument(withBom(source), 'md');
    expect(doc.sections.map((section) => section.heading)).toEqual([
      undefined,
      'Getting started',
      'Install on Linux',
      'Troubleshooting',
      'Configuration',
      'Limits',
    ]);
    expect(doc.units).toBe(6);
    const [intro, started, linux, trouble, config, limits] = doc.sections.map((section) => section.text);
    expect(intro).toBe('Intro paragraph before any heading, with bold, emphasis and a link.');
    expect(started).toBe('Install with npm i parley and read the guide.');
    expect(linux).toBe('# not a heading inside a fence\nnpm i parley');
    expect(trouble).toBe('Symptom | Fix\nIt hangs | Restart it');
    expect(config).toBe('- first item\n- second item with diagram');
    expect(limits).toBe('Quoted old text with snake_case_name and 2 * 3 * 4 and *literal*.');
    expect(doc.sections.map((section) => section.text).join('\n')).not.toMatch(/Front matter|example\.com/);
  });

  it('tells a setext underline from a thematic break', async () => {
    const doc = await extractDocument(
      utf8('Text before.\n\n---\n\nA heading that\nwraps\n---\nBody.\n\n- item\n---\nAfter the list.'),
      'md',
    );
    expect(doc.sections).toEqual([
      { text: 'Text before.' },
      { heading: 'A heading that wraps', text: 'Body.\n\n- item\n\nAfter the list.' },
    ]);
  });

  it('gives every chunk the heading of the section it came from', async () => {
    const long = ['# Alpha', prose(1, 40), '## Beta', prose(2, 40), '### Gamma', prose(3, 5)].join('\n\n');
    const doc = await extractDocument(utf8(long), 'md');
    const chunks = chunkDocument(doc, { size: 500, overlap: 100 });
    const byHeading = new Map<string | undefined, string[]>();
    for (const chunk of chunks)
      byHeading.set(chunk.heading, [...(byHeading.get(chunk.heading) ?? []), chunk.text]);
    expect([...byHeading.keys()]).toEqual(['Alpha', 'Beta', 'Gamma']);
    expect(byHeading.get('Alpha')?.length).toBeGreaterThan(2);
    expect(byHeading.get('Alpha')?.join(' ')).toContain(prose(1, 40).slice(-60));
    expect(byHeading.get('Gamma')?.join(' ')).toBe(prose(3, 5));
  });
});

describe('CSV', () => {
  it('parses RFC 4180: quoted delimiters, doubled quotes, line breaks inside quotes, CRLF', () => {
    const rows = parseCsv('a,b,c\r\n"x, y","he said ""hi""","line one\r\nline two"\r\n,,\r\nlast,row,\r\n');
    expect(rows).toEqual([
      ['a', 'b', 'c'],
      ['x, y', 'he said "hi"', 'line one\r\nline two'],
      ['', '', ''],
      ['last', 'row', ''],
    ]);
    expect(parseCsv('')).toEqual([]);
    expect(parseCsv('one\n\n\ntwo')).toEqual([['one'], ['two']]);
    expect(parseCsv('"unterminated, still\nread')).toEqual([['unterminated, still\nread']]);
  });

  it('writes every row with its header, so any run of rows describes itself', async () => {
    const csv = [
      'name,role,"notes, free text"',
      'Ada,engineer,"wrote the first program, 1843"',
      '"Grace ""Amazing"" Hopper",admiral,"line one',
      'line two"',
      'Linus,,',
    ].join('\r\n');
    const doc = await extractDocument(withBom(csv), 'csv');
    expect(doc.sections).toEqual([
      {
        heading: 'Rows 2–4',
        text: [
          'name: Ada; role: engineer; notes, free text: wrote the first program, 1843',
          'name: Grace "Amazing" Hopper; role: admiral; notes, free text: line one line two',
          'name: Linus',
        ].join('\n'),
      },
    ]);
  });

  it('groups rows into sections named by their row range, and each chunk row still names its columns', async () => {
    const lines = ['id;city;country'];
    for (let i = 1; i <= 250; i++) lines.push(`${i};City ${i};Country ${i % 7}`);
    const doc = await extractDocument(utf8(lines.join('\n')), 'csv');
    expect(doc.sections.map((section) => section.heading)).toEqual([
      'Rows 2–101',
      'Rows 102–201',
      'Rows 202–251',
    ]);
    const chunks = chunkDocument(doc, { size: 300, overlap: 50 });
    for (const chunk of chunks) {
      for (const line of chunk.text.split('\n'))
        expect(line).toMatch(/^(?:id: \d+; )?city: City \d+; country: Country \d$|^id: \d+/);
    }
  });

  it('refuses a header without rows and absurd row counts with a reason', async () => {
    await expect(extractDocument(utf8('name,role\n'), 'csv')).rejects.toHaveProperty(
      'reason',
      expect.stringMatching(/^No extractable text/),
    );
    const many = `n\n${'1\n'.repeat(30)}`;
    await expect(extractDocument(utf8(many), 'csv', { maxRows: 20 })).rejects.toHaveProperty(
      'reason',
      'The CSV file has more than 21 rows; split it into smaller files',
    );
  });
});

describe('HTML', () => {
  const page = `<!DOCTYPE html>
<html><head><title>Parley &amp; friends</title>
<style>body { color: red }</style><script>var secret = "do-not-index";</script>
<meta charset="utf-8"></head>
<body>
<nav><a href="/">Home</a> <a href="/pricing">Pricing menu</a></nav>
<p>Welcome to&nbsp;the <b>help</b> centre.<br>Second line.</p>
<noscript>Enable JavaScript</noscript>
<template><p>template text</p></template>
<h2>Plans &amp; prices</h2>
<ul><li>Free</li><li>Pro &euro;10</li></ul>
<table><tr><th>Plan</th><th>Seats</th></tr><tr><td><p>Pro</p></td><td>5</td></tr></table>
<div hidden>hidden text</div>
<h3>Contact <small>us</small></h3>
<p>Write to <a href="mailto:a@example.com">support</a>.</p>
<script>document.write("late script")</script>
</body></html>`;

  it('keeps visible text, drops script, style, nav and hidden content, and starts a section per heading', async () => {
    const doc = await extractDocument(utf8(page), 'html');
    expect(doc.sections).toEqual([
      { heading: 'Parley & friends', text: 'Welcome to the help centre.\nSecond line.' },
      { heading: 'Plans & prices', text: '- Free\n- Pro €10\n\nPlan | Seats\nPro | 5' },
      { heading: 'Contact us', text: 'Write to support.' },
    ]);
    const all = JSON.stringify(doc);
    for (const absent of [
      'do-not-index',
      'color: red',
      'Pricing menu',
      'Enable JavaScript',
      'template text',
      'hidden text',
      'late script',
    ]) {
      expect(all).not.toContain(absent);
    }
  });
});

describe('plain text', () => {
  it('keeps paragraphs, normalises line endings and whitespace, strips the byte-order mark', async () => {
    const doc = await extractDocument(
      withBom('First  paragraph\r\nstill first.\r\n\r\n\r\n\r\nSecond\tparagraph.  \r\n'),
      'txt',
    );
    expect(doc).toEqual({
      sections: [{ text: 'First paragraph\nstill first.\n\nSecond paragraph.' }],
      units: 1,
    });
  });

  it('reads UTF-16 with a byte-order mark (what Windows tools call "Unicode")', async () => {
    const text = 'Grüße aus Köln';
    const bytes = new Uint8Array([0xff, 0xfe, ...new Uint8Array(Buffer.from(text, 'utf16le'))]);
    const doc = await extractDocument(bytes, 'txt');
    expect(doc.sections[0]?.text).toBe(text);
  });

  it('says there is no text in an empty or blank file', async () => {
    for (const bytes of [new Uint8Array(), utf8(' \n\t\n'), withBom('')]) {
      await expect(extractDocument(bytes, 'txt')).rejects.toThrow('No extractable text: the file is empty');
    }
  });
});

describe('generated PDF', () => {
  it('finds pdf.js standard fonts and CMaps in the installed package', () => {
    const assets = pdfAssets();
    expect(assets.standardFontDataUrl).toMatch(/standard_fonts\/$/);
    expect(assets.cMapUrl).toMatch(/cmaps\/$/);
    expect(existsSync(`${assets.standardFontDataUrl}LiberationSans-Regular.ttf`)).toBe(true);
  });

  it('gives one section per page with its number, words separated and lines kept', async () => {
    const pages = [
      { heading: 'Chapter One', paragraphs: [prose(1, 6), prose(2, 4)] },
      { paragraphs: [] },
      { heading: 'Chapter Three', paragraphs: ['Short (parenthesised) text with a back\\slash.'] },
    ];
    const doc = await extractDocument(makePdf(pages), 'pdf');
    expect(doc.units).toBe(3);
    expect(doc.sections.map((section) => section.page)).toEqual([1, 3]);
    const [first, third] = doc.sections;
    expect(first?.text.startsWith('Chapter One\n\n')).toBe(true);
    // The words of both paragraphs, in order, whatever the line breaks.
    expect(first?.text.replace(/\s+/g, ' ')).toBe(`Chapter One ${prose(1, 6)} ${prose(2, 4)}`);
    expect(first?.text).toMatch(/\.\n\n[A-Z]/); // a blank line between the paragraphs
    expect(third?.text).toBe('Chapter Three\n\nShort (parenthesised) text with a back\\slash.');
  });
});

describe('DOCX headings', () => {
  it('turns Word heading styles into section headings', async () => {
    const doc = await extractDocument(
      makeDocx([
        { text: 'Preface text.' },
        { text: 'Refunds', style: 'Heading1' },
        { text: 'Refunds take five days.' },
        { text: 'By card', style: 'Heading2' },
        { text: 'Card refunds & reversals.' },
      ]),
      'docx',
    );
    expect(doc.sections).toEqual([
      { text: 'Preface text.' },
      { heading: 'Refunds', text: 'Refunds take five days.' },
      { heading: 'By card', text: 'Card refunds & reversals.' },
    ]);
  });

  it('is an ExtractionError that says so when there is no text', async () => {
    await expect(extractDocument(makeDocx([{ text: '   ' }]), 'docx')).rejects.toThrow(ExtractionError);
  });
});
