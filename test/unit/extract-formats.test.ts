import { existsSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { chunkDocument } from '../../shared/ingestion/chunker.ts';
import { parseCsv } from '../../shared/ingestion/extract/csv.ts';
import { coreTitle } from '../../shared/ingestion/extract/docx.ts';
import { pdfAssets, realTitle } from '../../shared/ingestion/extract/pdf.ts';
import { extractDocument } from '../../shared/ingestion/extract.ts';
import { ExtractionError } from '../../shared/ingestion/types.ts';
import { makePdf, prose } from '../fixtures/documents/pdf.ts';
import { docxParts, makeDocx, makeZip } from '../fixtures/documents/zip.ts';

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
      {
        heading: 'A heading that wraps',
        headingPath: ['A heading that wraps'],
        text: 'Body.\n\n- item\n\nAfter the list.',
      },
    ]);
    // A setext h2 is no title.
    expect(doc.title).toBeUndefined();
  });

  it('gives each section the path of headings above it; a heading closes those at its level and below', async () => {
    const doc = await extractDocument(withBom(source), 'md');
    expect(doc.sections.map((section) => section.headingPath)).toEqual([
      undefined,
      ['Getting started'],
      ['Getting started', 'Install on Linux'],
      ['Getting started', 'Install on Linux', 'Troubleshooting'],
      ['Configuration'],
      ['Configuration', 'Limits'],
    ]);
    for (const section of doc.sections) expect(section.headingPath?.at(-1)).toBe(section.heading);
    // The front matter's title wins over the first h1.
    expect(doc.title).toBe('Front matter is metadata');

    const skipped = await extractDocument(utf8('# Top\n\nA.\n\n### Deep\n\nB.\n\n## Middle\n\nC.'), 'md');
    expect(skipped.sections.map((section) => section.headingPath)).toEqual([
      ['Top'],
      ['Top', 'Deep'],
      ['Top', 'Middle'],
    ]);
  });

  it('takes the title from the front matter, else the first h1 (ATX or setext)', async () => {
    const title = async (text: string) => (await extractDocument(utf8(text), 'md')).title;
    expect(await title('Intro.\n\n## Not a title\n\nText.\n\n# The *real*   title #\n\nText.')).toBe(
      'The real title',
    );
    expect(await title('Set in **setext**\n===\n\nText.\n\n# Later h1\n\nMore.')).toBe('Set in setext');
    expect(
      await title(
        '---\ntitle: "Quoted: with a colon \\"and quotes\\""\ndate: 2024-01-01\n---\n# H1\n\nText.',
      ),
    ).toBe('Quoted: with a colon "and quotes"');
    expect(await title("---\nlayout: post\ntitle: 'It''s single'\n---\nText.")).toBe("It's single");
    expect(await title('---\ntitle: Plain title # a comment\n---\nText.')).toBe('Plain title');
    // An empty or block-scalar front-matter title falls back to the first h1.
    expect(await title('---\ntitle:\n---\n# Heading one\n\nText.')).toBe('Heading one');
    expect(await title('---\ntitle: >\n  Folded\n---\n# Heading one\n\nText.')).toBe('Heading one');
    expect(await title('Just text, no heading.')).toBeUndefined();
  });

  it('keeps the text of raw HTML, not its tags, comments or scripts; a heading in a quote is text', async () => {
    const doc = await extractDocument(
      utf8(
        [
          '# Page',
          '',
          '<div class="note">',
          '<p>Kept &amp; <b>bold</b></p>',
          '<script>var secret = 1;</script>',
          '</div>',
          '',
          'Inline <span class="x">tag</span> and <!-- a comment --> text.',
          '',
          '> ## Quoted heading',
          '> Quoted text.',
          '',
          '<!-- an unclosed comment',
          'hidden',
        ].join('\n'),
      ),
      'md',
    );
    expect(doc.sections).toEqual([
      {
        heading: 'Page',
        headingPath: ['Page'],
        text: 'Kept & bold\n\nInline tag and text.\n\nQuoted heading\nQuoted text.',
      },
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
    expect(doc.title).toBe('Parley & friends');
    expect(doc.sections).toEqual([
      {
        heading: 'Parley & friends',
        headingPath: ['Parley & friends'],
        text: 'Welcome to the help centre.\nSecond line.',
      },
      {
        heading: 'Plans & prices',
        headingPath: ['Plans & prices'],
        text: '- Free\n- Pro €10\n\nPlan | Seats\nPro | 5',
      },
      { heading: 'Contact us', headingPath: ['Plans & prices', 'Contact us'], text: 'Write to support.' },
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

  it('keeps a stack of h1–h6 by level: a heading closes those at its level and below', async () => {
    const doc = await extractDocument(
      utf8(`<html><body>
<h1>Guide</h1><p>Intro.</p>
<h2>Install</h2><p>Steps.</p>
<h4>On   ARM</h4><p>Deep.</p>
<h3>On Linux</h3><p>Linux.</p>
<h2>Use</h2><p>Usage.</p>
<h1>Appendix</h1><p>More.</p>
<table><tr><td><h3>Cell heading</h3></td></tr></table>
</body></html>`),
      'html',
    );
    expect(doc.sections.map((section) => section.headingPath)).toEqual([
      ['Guide'],
      ['Guide', 'Install'],
      ['Guide', 'Install', 'On ARM'],
      ['Guide', 'Install', 'On Linux'],
      ['Guide', 'Use'],
      ['Appendix'],
    ]);
    for (const section of doc.sections) expect(section.headingPath?.at(-1)).toBe(section.heading);
    // No <title>: the first h1 is the title.
    expect(doc.title).toBe('Guide');
  });

  it('takes the <title> trimmed and collapsed, and leaves permalinks and navigation landmarks out', async () => {
    const doc = await extractDocument(
      utf8(`<html><head><title>
  Binary   packages &#8212;
  Manual </title></head><body>
<div class="related" role="navigation"><h3>Navigation</h3><ul><li><a href="index.html">index</a></li></ul></div>
<h1><span class="section-number">3. </span>Binary packages<a class="headerlink" href="#binary">¶</a></h1>
<p>Text.</p>
<h2>C# and <a href="#f">F#</a><a href="#sub" title="Direct link">#</a></h2>
<p>Languages.</p>
<figure><p class="caption">A figure<a class="headerlink" href="#fig">¶</a></p></figure>
<div class="sphinxsidebar" role="navigation"><h3>Table of Contents</h3><p>3. Binary packages</p></div>
</body></html>`),
      'html',
    );
    expect(doc.title).toBe('Binary packages — Manual');
    expect(doc.sections).toEqual([
      { heading: '3. Binary packages', headingPath: ['3. Binary packages'], text: 'Text.' },
      {
        heading: 'C# and F#',
        headingPath: ['3. Binary packages', 'C# and F#'],
        text: 'Languages.\n\nA figure',
      },
    ]);
    expect(JSON.stringify(doc)).not.toMatch(/¶|Navigation|Table of Contents/);
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
    // No document information: no title, and pages never get a heading path.
    expect(doc.title).toBeUndefined();
    for (const section of doc.sections) expect(section.headingPath).toBeUndefined();
  });

  it('takes the title from the document information when it is a real title', async () => {
    const page = [{ heading: 'Page heading', paragraphs: [prose(4, 3)] }];
    const titled = await extractDocument(makePdf(page, { title: '  Refund   policy 2024 ' }), 'pdf');
    expect(titled.title).toBe('Refund policy 2024');
    expect(titled.sections.map((section) => section.headingPath)).toEqual([undefined]);
    // UTF-16 strings, as non-Latin titles are written.
    const unicode = await extractDocument(makePdf(page, { title: 'Grüße — 東京ガイド' }), 'pdf');
    expect(unicode.title).toBe('Grüße — 東京ガイド');
    // What tools write when nobody named the document is no title (and none is made up).
    for (const junk of ['Microsoft Word - refunds.doc', 'untitled', '   ', 'report-final.pdf']) {
      expect((await extractDocument(makePdf(page, { title: junk }), 'pdf')).title).toBeUndefined();
    }
  });

  it('tells real titles from placeholders and file names', () => {
    for (const real of [
      'Trace-based Just-in-Time Type Specialization for Dynamic Languages',
      'Microsoft Word 2016 keyboard shortcuts',
      'Using Node.js with ASP.NET',
      'Filesystem Hierarchy Standard',
    ]) {
      expect(realTitle(real)).toBe(real);
    }
    for (const junk of [
      undefined,
      42,
      '',
      '()',
      '1',
      'Untitled',
      'Untitled-3',
      'Untitled document',
      'Document1',
      'Presentation 2',
      'Microsoft PowerPoint - deck.pptx',
      'Microsoft Word - Annual report',
      'paper.dvi',
      'main.tex',
      'Q3 results.docx',
      'C:\\Users\\ada\\report.doc',
      '/tmp/tmpx91.ps',
    ]) {
      expect(realTitle(junk)).toBeUndefined();
    }
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
      { heading: 'Refunds', headingPath: ['Refunds'], text: 'Refunds take five days.' },
      { heading: 'By card', headingPath: ['Refunds', 'By card'], text: 'Card refunds & reversals.' },
    ]);
    // No core properties: the first heading is the title.
    expect(doc.title).toBe('Refunds');
  });

  const paragraphs = [
    { text: 'Intro.' },
    { text: 'Refunds', style: 'Heading1' },
    { text: 'Refunds take five days.' },
  ] as const;
  const core = (title: string) =>
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:d="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"><d:creator>Ada</d:creator>${title}<dcterms:created>2024-01-01T00:00:00Z</dcterms:created></cp:coreProperties>`;
  const withCore = (xml: string, declaredSize?: number) =>
    makeZip([
      ...docxParts(paragraphs),
      { name: 'docProps/core.xml', data: xml, ...(declaredSize !== undefined && { declaredSize }) },
    ]);

  it('takes the title from the core properties, else the first heading', async () => {
    const titled = await extractDocument(
      withCore(core('<d:title>  Refund &amp; returns\n policy </d:title>')),
      'docx',
    );
    expect(titled.title).toBe('Refund & returns policy');
    expect(titled.sections.map((section) => section.headingPath)).toEqual([undefined, ['Refunds']]);
    // An empty title, or none, falls back to the first heading.
    expect((await extractDocument(withCore(core('<d:title></d:title>')), 'docx')).title).toBe('Refunds');
    expect((await extractDocument(withCore(core('<d:title/>')), 'docx')).title).toBe('Refunds');
    expect((await extractDocument(withCore(core('')), 'docx')).title).toBe('Refunds');
    // Unreadable properties are no title, not a failure.
    expect((await extractDocument(withCore('<cp:coreProperties><d:title>x'), 'docx')).title).toBe('Refunds');
    expect(coreTitle(new Uint8Array([0xff, 0xfe, 0x00]))).toBeUndefined();
  });

  it('reads the core properties within the zip-bomb guards', async () => {
    const xml = core(`<d:title>${'A'.repeat(5000)}</d:title>`);
    // A part that expands beyond what the directory declares is refused, as for the parts mammoth reads.
    await expect(extractDocument(withCore(xml, 100), 'docx')).rejects.toHaveProperty(
      'reason',
      expect.stringMatching(/expands beyond the size the archive declares/),
    );
    await expect(
      extractDocument(withCore(xml), 'docx', { maxUncompressedBytes: 4000 }),
    ).rejects.toHaveProperty('reason', expect.stringMatching(/zip bomb/));
  });

  it('is an ExtractionError that says so when there is no text', async () => {
    await expect(extractDocument(makeDocx([{ text: '   ' }]), 'docx')).rejects.toThrow(ExtractionError);
  });
});
