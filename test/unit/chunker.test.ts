import { describe, expect, it } from '@jest/globals';
import { chunkDocument, maxChunksFor } from '../../shared/ingestion/chunker.ts';
import {
  type Chunk,
  type ExtractedDocument,
  ExtractionError,
  type Section,
} from '../../shared/ingestion/types.ts';
import { prose } from '../fixtures/documents/pdf.ts';

// Properties of the splitter, on hand-made and generated documents.

const doc = (...sections: Section[]): ExtractedDocument => ({ sections, units: sections.length });

/** A seeded generator, so every "random" document is the same on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x100000000;
  };
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const CJK = '知识库把文档切成小段每段都记得它来自哪一页和哪个标题这样回答可以引用来源';

/** Text mixing paragraphs, lists, long sentences, long tokens, CJK, emoji and odd whitespace. */
function messyText(seed: number): string {
  const next = random(seed);
  const pick = (from: string) => from[Math.floor(next() * from.length)] as string;
  const blocks: string[] = [];
  const count = 3 + Math.floor(next() * 12);
  for (let b = 0; b < count; b++) {
    const kind = next();
    if (kind < 0.45) blocks.push(prose(Math.floor(next() * 1e6), 1 + Math.floor(next() * 25)));
    else if (kind < 0.6) {
      const items = Array.from(
        { length: 3 + Math.floor(next() * 10) },
        () => `- ${prose(Math.floor(next() * 1e6), 1)}`,
      );
      blocks.push(items.join('\n'));
    } else if (kind < 0.7) {
      const token = Array.from({ length: 200 + Math.floor(next() * 3000) }, () =>
        pick('abcdefghijklmnopqrstuvwxyz'),
      );
      blocks.push(`token ${token.join('')} after`);
    } else if (kind < 0.8) {
      const characters = Array.from({ length: 20 + Math.floor(next() * 600) }, () =>
        next() < 0.06 ? '。' : pick(CJK),
      );
      blocks.push(`${characters.join('')}。`);
    } else if (kind < 0.9) {
      blocks.push(
        `  ${prose(Math.floor(next() * 1e6), 3)}\t \n\n\n   \r\n${prose(Math.floor(next() * 1e6), 2)}  `,
      );
    } else {
      const emoji = Array.from({ length: 50 + Math.floor(next() * 600) }, () =>
        String.fromCodePoint(0x1f600 + Math.floor(next() * 80)),
      );
      blocks.push(`Emoji ${emoji.join('')} done.`);
    }
  }
  return blocks.join(next() < 0.5 ? '\n\n' : '\n');
}

/** Finds each chunk in its section text (in order) and returns the covered [start, end) ranges. */
function locate(section: Section, chunks: readonly Chunk[], overlap: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let from = 0;
  for (const chunk of chunks) {
    const at = section.text.indexOf(chunk.text, from);
    expect(at).toBeGreaterThanOrEqual(0);
    ranges.push([at, at + chunk.text.length]);
    // The next chunk starts after this one and repeats at most `overlap` characters of it.
    from = Math.max(at + 1, at + chunk.text.length - overlap);
  }
  return ranges;
}

function checkProperties(document: ExtractedDocument, size: number, overlap: number): Chunk[] {
  // The cap fails a document past it: every generated document of every shape stays under it.
  const chunks = chunkDocument(document, { size, overlap });
  expect(chunks.length).toBeLessThanOrEqual(maxChunksFor(document, size));
  expect(chunks.map((chunk) => chunk.ordinal)).toEqual(chunks.map((_, index) => index));
  let next = 0;
  for (const section of document.sections) {
    // A section's chunks are consecutive and carry its metadata.
    const own: Chunk[] = [];
    while (next < chunks.length && (own.length === 0 || sameSection(chunks[next] as Chunk, section))) {
      const chunk = chunks[next] as Chunk;
      if (!sameSection(chunk, section) || !section.text.includes(chunk.text)) break;
      own.push(chunk);
      next++;
    }
    for (const chunk of own) {
      expect(chunk.text.length).toBeLessThanOrEqual(size);
      expect(chunk.text.trim()).toBe(chunk.text);
      expect(chunk.text).not.toBe('');
    }
    const ranges = locate(section, own, overlap);
    // Coverage: every non-whitespace character of the section is in some chunk.
    const covered = new Uint8Array(section.text.length);
    for (const [start, end] of ranges) covered.fill(1, start, end);
    for (let i = 0; i < section.text.length; i++) {
      if (!covered[i] && /\S/.test(section.text[i] ?? '')) {
        throw new Error(
          `character ${i} (${JSON.stringify(section.text.slice(i - 10, i + 10))}) is in no chunk`,
        );
      }
    }
    // Chunks move forward and never contain one another.
    for (let i = 1; i < ranges.length; i++) {
      const [previousStart, previousEnd] = ranges[i - 1] as [number, number];
      const [start, end] = ranges[i] as [number, number];
      expect(start).toBeGreaterThan(previousStart);
      expect(end).toBeGreaterThan(previousEnd);
      // Overlap never exceeds what was asked for.
      expect(Math.max(0, previousEnd - start)).toBeLessThanOrEqual(overlap);
    }
  }
  expect(next).toBe(chunks.length);
  return chunks;
}

function sameSection(chunk: Chunk, section: Section): boolean {
  return (
    chunk.page === section.page &&
    chunk.heading === section.heading &&
    chunk.headingPath?.join('\u0000') === section.headingPath?.join('\u0000')
  );
}

describe('chunkDocument', () => {
  it('keeps sizes, coverage, order and metadata on generated documents of every shape', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const next = random(seed * 7919);
      const sections: Section[] = Array.from({ length: 1 + Math.floor(next() * 4) }, (_, i) => ({
        text: messyText(seed * 31 + i),
        ...(next() < 0.5 ? { page: i + 1 } : {}),
        ...(next() < 0.5 ? { heading: `Heading ${i}`, headingPath: ['Top', `Heading ${i}`] } : {}),
      }));
      const size = [50, 200, 1000, 1500][seed % 4] as number;
      const overlap = Math.floor(size * ([0, 0.1, 0.2, 0.25][Math.floor(seed / 4) % 4] ?? 0));
      checkProperties(doc(...sections), size, overlap);
    }
  });

  it('is deterministic', () => {
    const document = doc({ text: messyText(42), page: 3 }, { text: messyText(43), heading: 'B' });
    const first = chunkDocument(document, { size: 300, overlap: 60 });
    expect(chunkDocument(document, { size: 300, overlap: 60 })).toEqual(first);
    expect(chunkDocument(structuredClone(document), { size: 300, overlap: 60 })).toEqual(first);
  });

  it('never merges sections, even short ones, and carries their page and heading', () => {
    const chunks = chunkDocument(
      doc(
        { text: 'One.', page: 1 },
        { text: 'Two.', page: 2 },
        { text: 'Three.', page: 2, heading: 'H' },
        { text: '  \n ' },
      ),
      { size: 1000, overlap: 200 },
    );
    expect(chunks).toEqual([
      { ordinal: 0, text: 'One.', page: 1 },
      { ordinal: 1, text: 'Two.', page: 2 },
      { ordinal: 2, text: 'Three.', page: 2, heading: 'H' },
    ]);
  });

  it("gives every chunk of a section the section's heading path", () => {
    const chunks = chunkDocument(
      doc(
        { text: prose(5, 30), heading: 'Install', headingPath: ['Guide', 'Install'] },
        { text: 'Short.', heading: 'On ARM', headingPath: ['Guide', 'Install', 'On ARM'] },
        { text: 'No heading.' },
      ),
      { size: 300, overlap: 50 },
    );
    expect(chunks.length).toBeGreaterThan(3);
    const last = chunks.length - 1;
    for (const chunk of chunks.slice(0, last - 1)) {
      expect(chunk).toMatchObject({ heading: 'Install', headingPath: ['Guide', 'Install'] });
    }
    expect(chunks[last - 1]).toEqual({
      ordinal: last - 1,
      text: 'Short.',
      heading: 'On ARM',
      headingPath: ['Guide', 'Install', 'On ARM'],
    });
    expect(chunks[last]).toEqual({ ordinal: last, text: 'No heading.' });
  });

  it('repeats about `overlap` characters between neighbours, starting at a sentence or word', () => {
    const text = prose(9, 80);
    const chunks = checkProperties(doc({ text }), 1000, 200);
    expect(chunks.length).toBeGreaterThan(3);
    for (let i = 1; i < chunks.length; i++) {
      const previous = (chunks[i - 1] as Chunk).text;
      const current = (chunks[i] as Chunk).text;
      let shared = 0;
      for (let k = Math.min(previous.length, current.length); k > 0; k--) {
        if (previous.endsWith(current.slice(0, k))) {
          shared = k;
          break;
        }
      }
      expect(shared).toBeGreaterThanOrEqual(60);
      expect(shared).toBeLessThanOrEqual(200);
      // It starts a word: in the previous chunk, whitespace comes right before it.
      expect(previous[previous.length - shared - 1]).toMatch(/\s/);
    }
  });

  it('prefers to start the overlap at a sentence', () => {
    const text = Array.from({ length: 40 }, (_, i) => `Sentence number ${i} says a few words here.`).join(
      ' ',
    );
    const chunks = chunkDocument(doc({ text }), { size: 300, overlap: 75 });
    for (const chunk of chunks) expect(chunk.text).toMatch(/^Sentence number \d+/);
    for (const chunk of chunks) expect(chunk.text).toMatch(/here\.$/);
  });

  it('ends chunks at paragraph boundaries when that keeps them at least half full', () => {
    const first = prose(1, 8).slice(0, 600);
    const second = prose(2, 8).slice(0, 600);
    const chunks = chunkDocument(doc({ text: `${first}\n\n${second}` }), { size: 1000, overlap: 0 });
    expect(chunks.map((chunk) => chunk.text)).toEqual([first.trim(), second.trim()]);
  });

  it('does not take abbreviations and initials for the end of a sentence', () => {
    const long =
      'Dr. Smith met Mr. J. Jones at 5 p.m. with approx. ten friends, e.g. family members from the U.S. ' +
      'embassy, and discussed Fig. 2 of the report at length.';
    const text = `Alpha beta gamma delta. ${long}`;
    // The long sentence must be cut at a word; a false sentence end after an abbreviation would be
    // preferred by the back-off and end the chunk there instead.
    const chunks = chunkDocument(doc({ text }), { size: 100, overlap: 0 });
    let expected = '';
    for (const word of text.split(' ')) {
      const candidate = expected ? `${expected} ${word}` : word;
      if (candidate.length > 100) break;
      expected = candidate;
    }
    expect(chunks[0]?.text).toBe(expected);
    const sentences = chunkDocument(doc({ text: `${long} Next one! And? Last.` }), { size: 160, overlap: 0 });
    expect(sentences.map((chunk) => chunk.text)).toEqual([long, 'Next one! And? Last.']);
  });

  it('splits text without spaces at its sentence marks, then between characters', () => {
    const next = random(5);
    const sentences = Array.from({ length: 20 }, () => {
      const length = 15 + Math.floor(next() * 25);
      return `${Array.from({ length }, () => CJK[Math.floor(next() * CJK.length)]).join('')}。`;
    });
    const chunks = checkProperties(doc({ text: sentences.join('') }), 60, 10);
    expect(chunks.length).toBeGreaterThan(5);
    for (const chunk of chunks.slice(0, -1)) expect(chunk.text.endsWith('。')).toBe(true);

    const unbroken = Array.from({ length: 370 }, () => CJK[Math.floor(next() * CJK.length)]).join('');
    const pieces = checkProperties(doc({ text: unbroken }), 100, 20);
    expect(pieces.map((chunk) => chunk.text.length).slice(0, -1)).toEqual([100, 100, 100, 100]);
    // Where there are no spaces the overlap may start between any two characters.
    expect(pieces[1]?.text).toBe(unbroken.slice(80, 180));
  });

  it('cuts an unsplittable token at the size, without splitting surrogate pairs', () => {
    const token = 'a'.repeat(2500);
    const chunks = chunkDocument(doc({ text: `before ${token} after` }), { size: 1000, overlap: 200 });
    // No overlap inside the token: a word is never cut for it.
    expect(chunks.map((chunk) => chunk.text)).toEqual([
      'before',
      token.slice(0, 1000),
      token.slice(1000, 2000),
      `${token.slice(2000)} after`,
    ]);
    const emoji = '😀'.repeat(30);
    const pieces = chunkDocument(doc({ text: emoji }), { size: 9, overlap: 0 });
    for (const piece of pieces) expect(piece.text).not.toMatch(LONE_SURROGATE);
    expect(pieces.map((piece) => piece.text).join('')).toBe(emoji);
  });

  it('keeps a section that fits as one chunk, trimmed', () => {
    expect(chunkDocument(doc({ text: '\n  Hello world.  \n' }), { size: 1000, overlap: 200 })).toEqual([
      { ordinal: 0, text: 'Hello world.' },
    ]);
  });

  it('rejects sizes and overlaps that cannot work', () => {
    const document = doc({ text: 'x' });
    expect(() => chunkDocument(document, { size: 0, overlap: 0 })).toThrow(RangeError);
    expect(() => chunkDocument(document, { size: 100, overlap: 100 })).toThrow(RangeError);
    expect(() => chunkDocument(document, { size: 100, overlap: -1 })).toThrow(RangeError);
    expect(() => chunkDocument(document, { size: 10.5, overlap: 1 })).toThrow(RangeError);
  });

  // Audit finding: overlap < size was the only rule, and 8000/7999 turned 138 KB of words without
  // sentence marks into 22,610 chunks (181 MB), each moving on by one word.
  const words = (characters: number) => {
    const vocabulary = 'the quick brown fox jumps over a lazy dog while parley indexes pages'.split(' ');
    const out: string[] = [];
    for (let i = 0, length = 0; length < characters; i++) {
      const word = vocabulary[i % vocabulary.length] as string;
      out.push(word);
      length += word.length + 1;
    }
    return out.join(' ');
  };

  it('refuses an overlap above a quarter of the size, and keeps the copied text under 1.34×', () => {
    const document = doc({ text: words(138_000) });
    expect(() => chunkDocument(document, { size: 8000, overlap: 7999 })).toThrow(RangeError);
    expect(() => chunkDocument(document, { size: 8000, overlap: 2001 })).toThrow(RangeError);
    const chunks = chunkDocument(document, { size: 8000, overlap: 2000 });
    const copied = chunks.reduce((sum, chunk) => sum + chunk.text.length, 0);
    expect(chunks.length).toBeLessThanOrEqual(24);
    expect(copied / 138_000).toBeLessThan(1.34);
  });

  it('fails the document, with a reason, past its most chunks', () => {
    const document = doc({ text: words(19_990) }, { text: 'A second section.' });
    // 2 sections, and 4 per 1,000 characters of their 20,007.
    expect(maxChunksFor(document, 1000)).toBe(2 + 81);
    expect(chunkDocument(document, { size: 1000, overlap: 250 }).length).toBeLessThanOrEqual(28);
    expect(() => chunkDocument(document, { size: 1000, overlap: 250, maxChunks: 10 })).toThrow(
      new ExtractionError('The document makes more than 10 chunks; it cannot be indexed'),
    );
  });
});
