import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { chunkDocument } from '../../shared/ingestion/chunker.ts';
import { extractDocument } from '../../shared/ingestion/extract.ts';
import { type Chunk, type ExtractedDocument, ExtractionError } from '../../shared/ingestion/types.ts';

// Every real document in ../shared/corpus/ (see its README) ends as the README says.

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CORPUS = resolve(REPO_ROOT, '../shared/corpus');
const present = existsSync(CORPUS);

interface Outcome {
  check?: (doc: ExtractedDocument, chunks: Chunk[]) => void;
  reason?: RegExp;
}

const NO_TEXT = /^No extractable text/;
const ARABIC = /[\u0600-\u06ff]/;

const text = (doc: ExtractedDocument) => doc.sections.map((section) => section.text).join('\n');

const expected: Record<string, Outcome> = {
  'pdf/tracemonkey.pdf': {
    check: (doc, chunks) => {
      expect(doc.units).toBe(14);
      expect(new Set(doc.sections.map((section) => section.page))).toEqual(
        new Set(Array.from({ length: 14 }, (_, i) => i + 1)),
      );
      for (const chunk of chunks) expect(chunk.page).toEqual(expect.any(Number));
      const title = 'Trace-based Just-in-Time Type Specialization for Dynamic Languages';
      const titled = chunks.find((chunk) => chunk.text.replace(/\s+/g, ' ').includes(title));
      expect(titled?.page).toBe(1);
      expect(chunks.find((chunk) => chunk.text.includes('Andreas Gal'))?.page).toBe(1);
      // Pages come in order and each page's chunks are consecutive.
      const pages = chunks.map((chunk) => chunk.page ?? 0);
      expect(pages).toEqual([...pages].sort((a, b) => a - b));
      // pdfTeX wrote no Title into its document information: none is made up from the text,
      // and pages have no heading path.
      expect(doc.title).toBeUndefined();
      for (const chunk of chunks) expect(chunk.headingPath).toBeUndefined();
    },
  },
  'pdf/ArabicCIDTrueType.pdf': {
    check: (doc) => {
      const arabic = text(doc);
      expect(arabic).toMatch(ARABIC);
      // Real letters, not presentation forms or replacement characters (mojibake).
      expect(arabic).not.toMatch(/[\ufb50-\ufdff\ufe70-\ufeff\ufffd]/);
      expect(arabic).toContain('العربية');
      expect(doc.sections[0]?.page).toBe(1);
    },
  },
  'pdf/rotated.pdf': { check: (doc) => expect(text(doc)).toContain('Rotated text') },
  'pdf/empty.pdf': { reason: NO_TEXT },
  'pdf/empty_protected.pdf': { reason: NO_TEXT },
  'pdf/password_protected.pdf': { reason: /^The PDF is password-protected/ },
  'docx/tables.docx': {
    check: (doc) => {
      const all = text(doc);
      const order = ['Above', 'Top left', 'Top right', 'Bottom left', 'Bottom right', 'Below'].map((cell) =>
        all.indexOf(cell),
      );
      expect(order.every((index) => index >= 0)).toBe(true);
      expect(order).toEqual([...order].sort((a, b) => a - b));
    },
  },
  'docx/footnotes.docx': {
    check: (doc) => {
      const all = text(doc);
      expect(all).toContain('Ouch');
      expect(all).toContain('A tachyon walks into a bar.');
      expect(all).toContain('Fin.');
      expect(all).not.toContain('↑');
      // Its core properties hold an empty dc:title and it has no heading: no title.
      expect(doc.title).toBeUndefined();
    },
  },
  'docx/simple-list.docx': {
    check: (doc) => {
      expect(text(doc)).toMatch(/Apple\s+.*Banana/);
    },
  },
  'docx/strict-format.docx': { check: (doc) => expect(text(doc)).toContain('Test') },
  'docx/utf8-bom.docx': {
    check: (doc) => {
      expect(text(doc)).toContain('This XML has a byte order mark.');
      expect(text(doc)).not.toContain('\ufeff');
    },
  },
  'docx/text-box.docx': { check: (doc) => expect(text(doc)).toContain('Datum plane') },
  'docx/empty.docx': { reason: NO_TEXT },
};

describe(`the real documents in ${CORPUS}`, () => {
  if (!present) {
    it.skip(`skipped: the corpus folder ${CORPUS} is missing (it lives beside the checkout)`, () => {});
    return;
  }

  it('has an expectation for every file in the corpus', () => {
    const files = ['pdf', 'docx'].flatMap((folder) =>
      readdirSync(join(CORPUS, folder)).map((name) => `${folder}/${name}`),
    );
    expect(files.sort()).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))('%s ends as the README says', async (path, outcome) => {
    const type = path.startsWith('pdf/') ? 'pdf' : 'docx';
    const bytes = new Uint8Array(readFileSync(join(CORPUS, path)));
    const result = extractDocument(bytes, type);
    if (outcome.reason) {
      await expect(result).rejects.toThrow(ExtractionError);
      await expect(result).rejects.toHaveProperty('reason', expect.stringMatching(outcome.reason));
      return;
    }
    const doc = await result;
    const chunks = chunkDocument(doc, { size: 1000, overlap: 200 });
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.map((chunk) => chunk.ordinal)).toEqual(chunks.map((_, index) => index));
    for (const chunk of chunks) expect(chunk.text.trim()).not.toBe('');
    outcome.check?.(doc, chunks);
  });
});

describe(`the Debian Policy Manual's Sphinx pages in ${CORPUS}/site`, () => {
  const site = join(CORPUS, 'site/debian-policy');
  if (!existsSync(site)) {
    it.skip(`skipped: ${site} is missing (it lives beside the checkout)`, () => {});
    return;
  }
  const read = (name: string) => extractDocument(new Uint8Array(readFileSync(join(site, name))), 'html');

  it('titles a chapter from its <title> and gives nested sections their heading path', async () => {
    const doc = await read('ch-binary.html');
    expect(doc.title).toBe('3. Binary packages — Debian Policy Manual v4.6.2.0');
    const dates = doc.sections.find((section) => section.heading === '3.2.1. Version numbers based on dates');
    expect(dates?.headingPath).toEqual([
      '3. Binary packages',
      '3.2. The version of a package',
      '3.2.1. Version numbers based on dates',
    ]);
    expect(dates?.text).toMatch(/^In general, Debian packages should use the same version numbers/);
    // A new h2 closes the h3 above it.
    expect(
      doc.sections.find((section) => section.heading === '3.3. The maintainer of a package')?.headingPath,
    ).toEqual(['3. Binary packages', '3.3. The maintainer of a package']);
    // The sidebars (role="navigation") are chrome: no "Navigation" or "Table of Contents" section.
    expect(doc.sections[0]?.headingPath).toEqual(['3. Binary packages']);
    expect(doc.sections.map((section) => section.heading)).not.toContain('Table of Contents');

    // Every chunk keeps its section's path.
    const chunks = chunkDocument(doc, { size: 1000, overlap: 200 });
    for (const chunk of chunks) expect(chunk.headingPath?.[0]).toBe('3. Binary packages');

    // Four levels deep (h1 to h4).
    const shlibs = (await read('ch-sharedlibs.html')).sections.find(
      (section) => section.heading === '8.6.4.3. Providing a shlibs file',
    );
    expect(shlibs?.headingPath).toEqual([
      '8. Shared libraries',
      '8.6. Dependencies between the library and other packages',
      '8.6.4. The shlibs system',
      '8.6.4.3. Providing a shlibs file',
    ]);
  });

  it('leaves no permalink "¶" in any heading, title or text of any page', async () => {
    const pages = readdirSync(site).filter((name) => name.endsWith('.html'));
    expect(pages.length).toBeGreaterThan(20);
    for (const name of pages) {
      const doc = await read(name);
      expect(doc.title).toMatch(/ — Debian Policy Manual v4\.6\.2\.0$/);
      expect(JSON.stringify(doc)).not.toContain('¶');
      for (const section of doc.sections) {
        expect(section.headingPath?.at(-1)).toBe(section.heading);
        for (const heading of section.headingPath ?? []) expect(heading).toBe(heading.trim());
      }
    }
  });
});
