// Structure-aware splitting of extracted text into chunks of at most `size` characters.
//
// Each section is split on its own (a chunk never spans two pages or two headings), and each chunk
// carries its section's page, heading and heading path. Inside a section the text is cut into
// "atoms" no longer than `size`: paragraphs that fit are atoms; longer ones are cut into lines, then
// sentences, then words, then (a last resort, for a token longer than `size`) fixed runs of
// characters. Atoms are then packed greedily; when a chunk fills up, its end moves back
// to a stronger boundary (a paragraph rather than a sentence) if that keeps it at least half full.
// Each chunk after the first in a section starts with about `overlap` characters of the one before,
// beginning at a sentence start when one is close enough, otherwise at a word.
//
// Atoms are offsets into the section text and a chunk is one `slice` of it, so the work is linear in
// the text's length: no string is built up piece by piece, and every character is looked at a
// bounded number of times.

import { type Chunk, type ExtractedDocument, ExtractionError, type Section } from './types.ts';

export interface ChunkOptions {
  /** Most characters (UTF-16 code units, as `String.length` counts) in a chunk. */
  readonly size: number;
  /** Characters a chunk repeats from the end of the one before it: at most a quarter of `size`. */
  readonly overlap: number;
  /** Most chunks the document may make (default: `maxChunksFor` its text). */
  readonly maxChunks?: number;
}

/**
 * The largest overlap for a chunk size. A chunk repeating most of the one before it multiplies
 * the text (8,000/7,999 turned 138 KB into 18,646 chunks); a quarter keeps the copy under 1.34×.
 */
export const maxOverlap = (size: number) => Math.floor(size / 4);

/**
 * Most chunks a document's text may make: four per `size` characters, plus one per section. Packing
 * makes about one per `size` less overlap; the worst honest case, short paragraphs each followed by
 * one that fills a chunk alone, makes two. Past the cap something is wrong, and the document fails
 * before anything is embedded.
 */
export function maxChunksFor(doc: ExtractedDocument, size: number): number {
  let characters = 0;
  for (const section of doc.sections) characters += section.text.length;
  return doc.sections.length + Math.ceil((4 * characters) / size);
}

/** Boundary strengths, strongest first: what separates an atom from the one before it. */
const PARAGRAPH = 0;
const LINE = 1;
const SENTENCE = 2;
const WORD = 3;
const CHARACTER = 4;

/** A chunk may end early at a stronger boundary if it stays at least this full. */
const MIN_FILL = 0.5;

/** Words that end with a period without ending the sentence (compared in lower case). */
const ABBREVIATIONS = new Set([
  'mr',
  'mrs',
  'ms',
  'dr',
  'prof',
  'sr',
  'jr',
  'st',
  'mt',
  'vs',
  'etc',
  'eg',
  'ie',
  'cf',
  'al',
  'fig',
  'figs',
  'eq',
  'eqs',
  'no',
  'nos',
  'vol',
  'vols',
  'pp',
  'p',
  'ch',
  'sec',
  'approx',
  'inc',
  'ltd',
  'co',
  'corp',
  'dept',
  'est',
  'gen',
  'gov',
  'jan',
  'feb',
  'mar',
  'apr',
  'jun',
  'jul',
  'aug',
  'sep',
  'sept',
  'oct',
  'nov',
  'dec',
  'e.g',
  'i.e',
  'a.m',
  'p.m',
  'u.s',
  'z.b',
  'bzw',
  'usw',
  'ca',
]);

function isSpace(code: number): boolean {
  return (
    code === 32 ||
    (code >= 9 && code <= 13) ||
    code === 0xa0 ||
    code === 0x85 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** Sentence-ending punctuation that needs no space after it (CJK full stops and marks). */
function isCloseTerminator(code: number): boolean {
  return code === 0x3002 || code === 0xff01 || code === 0xff1f || code === 0xff61;
}

/** Sentence-ending punctuation followed by a space in the scripts that use spaces. */
function isSpacedTerminator(code: number): boolean {
  return (
    code === 46 || // .
    code === 33 || // !
    code === 63 || // ?
    code === 0x2026 || // …
    code === 0x061f || // Arabic question mark
    code === 0x06d4 || // Arabic full stop
    code === 0x0964 || // Devanagari danda
    code === 0x0965 ||
    code === 0x203c ||
    code === 0x2047 ||
    code === 0x2048 ||
    code === 0x2049 ||
    isCloseTerminator(code)
  );
}

/** Every sentence-ending mark `isSpacedTerminator` accepts, to find candidates quickly. */
const TERMINATORS = /[.!?\u2026\u061f\u06d4\u0964\u0965\u203c\u2047-\u2049\u3002\uff01\uff1f\uff61]/;

/** Quotes and brackets that may follow a sentence's final punctuation. */
function isCloser(code: number): boolean {
  return (
    code === 34 || // "
    code === 39 || // '
    code === 41 || // )
    code === 93 || // ]
    code === 125 || // }
    code === 0x2019 ||
    code === 0x201d ||
    code === 0xbb ||
    code === 0x300d || // 」
    code === 0x300f || // 』
    code === 0xff09 || // ）
    code === 0x3011 // 】
  );
}

function isAsciiLetter(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

const LETTER = /\p{L}/u;
const LOWERCASE = /\p{Ll}/u;

function isLetterAt(text: string, index: number): boolean {
  const code = text.charCodeAt(index);
  if (code < 128) return isAsciiLetter(code);
  return LETTER.test(text[index] ?? '');
}

/** Scripts written without spaces between words: any character boundary is a word boundary. */
function isUnspacedScript(code: number): boolean {
  return (
    (code >= 0x0e00 && code <= 0x0eff) || // Thai, Lao
    (code >= 0x1000 && code <= 0x109f) || // Myanmar
    (code >= 0x1780 && code <= 0x17ff) || // Khmer
    (code >= 0x2e80 && code <= 0x9fff) || // CJK radicals, kana, ideographs
    (code >= 0xf900 && code <= 0xfaff) ||
    (code >= 0xff00 && code <= 0xffef)
  );
}

/**
 * Whether the whitespace run starting at `spaceAt` (the character before it is not a space) follows
 * the end of a sentence. `from` bounds how far back a word is read.
 */
function endsSentence(text: string, spaceAt: number, from: number): boolean {
  let q = spaceAt - 1;
  while (q > from && isCloser(text.charCodeAt(q))) q--;
  const code = text.charCodeAt(q);
  if (!isSpacedTerminator(code)) return false;
  if (code !== 46) return true;
  if (q > from && text.charCodeAt(q - 1) === 46) return true; // an ellipsis "..."
  // The word before the period, dots inside it included ("e.g", "U.S").
  let w = q;
  while (w > from && (isLetterAt(text, w - 1) || (text.charCodeAt(w - 1) === 46 && w - 1 > from))) w--;
  const word = text.slice(w, q);
  if (word.length === 1 && isLetterAt(text, w)) return false; // an initial: "J. Smith"
  if (word.length > 0 && word.length <= 6 && ABBREVIATIONS.has(word.toLowerCase())) return false;
  // A lower-case word after the period continues the sentence ("approx. five").
  let next = spaceAt;
  const end = Math.min(text.length, spaceAt + 64);
  while (next < end && isSpace(text.charCodeAt(next))) next++;
  if (next < end && LOWERCASE.test(text[next] ?? '')) return false;
  return true;
}

/** Atoms as parallel arrays of offsets: [start, end) and the boundary before each. */
class Atoms {
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  readonly levels: number[] = [];
  push(start: number, end: number, level: number): void {
    this.starts.push(start);
    this.ends.push(end);
    this.levels.push(level);
  }
}

class Splitter {
  constructor(
    private readonly text: string,
    private readonly size: number,
    readonly atoms: Atoms,
  ) {}

  /** Adds the span [start, end) as atoms; `before` is the boundary that precedes it. */
  split(start: number, end: number, level: number, before: number): void {
    const { text } = this;
    while (start < end && isSpace(text.charCodeAt(start))) start++;
    while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
    if (start >= end) return;
    if (end - start <= this.size) {
      this.atoms.push(start, end, before);
      return;
    }
    switch (level) {
      case PARAGRAPH:
        this.paragraphs(start, end, before);
        return;
      case LINE:
        this.lines(start, end, before);
        return;
      case SENTENCE:
        this.sentences(start, end, before);
        return;
      case WORD:
        this.words(start, end, before);
        return;
      default:
        this.characters(start, end, before);
    }
  }

  /** Pieces separated by blank lines. */
  private paragraphs(start: number, end: number, before: number): void {
    const { text } = this;
    let pieceStart = start;
    let first = true;
    for (let i = text.indexOf('\n', start); i >= 0 && i < end; i = text.indexOf('\n', i + 1)) {
      let j = i + 1;
      while (j < end && text.charCodeAt(j) !== 10 && isSpace(text.charCodeAt(j))) j++;
      if (j < end && text.charCodeAt(j) === 10) {
        this.split(pieceStart, i, LINE, first ? before : PARAGRAPH);
        first = false;
        while (j < end && isSpace(text.charCodeAt(j))) j++;
        pieceStart = j;
        i = j - 1;
      }
    }
    this.split(pieceStart, end, LINE, first ? before : PARAGRAPH);
  }

  /** Pieces on separate lines. (A paragraph ends at a line break or the text's end, so `indexOf` never runs far past it.) */
  private lines(start: number, end: number, before: number): void {
    const { text } = this;
    let pieceStart = start;
    let first = true;
    for (let i = text.indexOf('\n', start); i >= 0 && i < end; i = text.indexOf('\n', i + 1)) {
      if (i > pieceStart) {
        this.split(pieceStart, i, SENTENCE, first ? before : LINE);
        first = false;
      }
      pieceStart = i + 1;
    }
    this.split(pieceStart, end, SENTENCE, first ? before : LINE);
  }

  private sentences(start: number, end: number, before: number): void {
    const { text } = this;
    // Searched in a slice of the span (V8 shares the characters), so a span without any terminator
    // costs its own length and never the rest of the text.
    const span = text.slice(start, end);
    const terminators = new RegExp(TERMINATORS.source, 'g');
    let pieceStart = start;
    let first = true;
    for (let match = terminators.exec(span); match; match = terminators.exec(span)) {
      const at = start + match.index;
      let unspaced = isCloseTerminator(text.charCodeAt(at));
      let after = at + 1;
      for (; after < end; after++) {
        const code = text.charCodeAt(after);
        if (isCloseTerminator(code)) unspaced = true;
        else if (!isSpacedTerminator(code) && !isCloser(code)) break;
      }
      if (after >= end) break;
      terminators.lastIndex = after - start;
      if (isSpace(text.charCodeAt(after))) {
        if (!endsSentence(text, after, pieceStart)) continue;
        let next = after + 1;
        while (next < end && isSpace(text.charCodeAt(next))) next++;
        this.split(pieceStart, after, WORD, first ? before : SENTENCE);
        first = false;
        pieceStart = next;
        terminators.lastIndex = next - start;
      } else if (unspaced) {
        this.split(pieceStart, after, WORD, first ? before : SENTENCE);
        first = false;
        pieceStart = after;
      }
    }
    this.split(pieceStart, end, WORD, first ? before : SENTENCE);
  }

  private words(start: number, end: number, before: number): void {
    const { text } = this;
    let pieceStart = start;
    let first = true;
    let i = start;
    while (i < end) {
      if (!isSpace(text.charCodeAt(i))) {
        i++;
        continue;
      }
      this.split(pieceStart, i, CHARACTER, first ? before : WORD);
      first = false;
      while (i < end && isSpace(text.charCodeAt(i))) i++;
      pieceStart = i;
    }
    this.split(pieceStart, end, CHARACTER, first ? before : WORD);
  }

  /**
   * A run without spaces longer than `size`. In scripts written without spaces (CJK, Thai) every
   * character is an atom, so packing and overlap work as with words. Anything else (a URL, a base64
   * blob, a long identifier) is cut into runs of `size`. Surrogate pairs are never cut.
   */
  private characters(start: number, end: number, before: number): void {
    const { text, size } = this;
    let unspaced = false;
    for (let i = start; i < end && !unspaced; i++) unspaced = isUnspacedScript(text.charCodeAt(i));
    if (unspaced) {
      let level = before;
      for (let i = start; i < end; ) {
        const code = text.charCodeAt(i);
        const next = code >= 0xd800 && code <= 0xdbff && i + 1 < end ? i + 2 : i + 1;
        this.atoms.push(i, next, level);
        level = CHARACTER;
        i = next;
      }
      return;
    }
    let pieceStart = start;
    let first = true;
    while (end - pieceStart > size) {
      let at = pieceStart + size;
      const code = text.charCodeAt(at - 1);
      if (code >= 0xd800 && code <= 0xdbff && at - 1 > pieceStart) at--;
      this.atoms.push(pieceStart, at, first ? before : CHARACTER);
      first = false;
      pieceStart = at;
    }
    this.atoms.push(pieceStart, end, first ? before : CHARACTER);
  }
}

/**
 * Where the next chunk starts so that it repeats the end of the previous chunk (which ended at
 * `end`): the first sentence start at or after `from` if it leaves at least half the wanted overlap,
 * else the first word start at or after `from`, else (text without spaces) `from` itself; `end` when
 * no such position exists (no overlap).
 */
function overlapStart(text: string, from: number, end: number, wanted: number): number {
  if (from >= end) return end;
  let firstWord = -1;
  const sentenceLimit = end - Math.ceil(wanted / 2);
  const scanFrom = Math.max(from, 1);
  for (let i = scanFrom; i < end; i++) {
    const code = text.charCodeAt(i);
    const previous = text.charCodeAt(i - 1);
    if (isSpace(code)) continue;
    if (isSpace(previous)) {
      // A word starts at i; is it also a sentence (or line) start?
      let s = i - 1;
      let newline = false;
      while (s > 0 && isSpace(text.charCodeAt(s - 1))) s--;
      for (let k = s; k < i; k++) if (text.charCodeAt(k) === 10) newline = true;
      if (i <= sentenceLimit && (newline || endsSentence(text, s, Math.max(0, s - 32)))) return i;
      if (firstWord < 0) firstWord = i;
    } else if (isCloseTerminator(previous) && i <= sentenceLimit) {
      return i;
    }
  }
  if (firstWord >= 0) return firstWord;
  // No word boundary: only text in a script without spaces may be cut between characters.
  let at = from;
  const code = text.charCodeAt(at);
  if (code >= 0xdc00 && code <= 0xdfff) at++;
  return at < end && isUnspacedScript(text.charCodeAt(at)) ? at : end;
}

function chunkSection(
  section: Section,
  { size, overlap, maxChunks }: Required<ChunkOptions>,
  out: Chunk[],
): void {
  const { text } = section;
  const atoms = new Atoms();
  new Splitter(text, size, atoms).split(0, text.length, PARAGRAPH, PARAGRAPH);
  const { starts, ends, levels } = atoms;
  const count = starts.length;
  const meta = {
    ...(section.page !== undefined ? { page: section.page } : {}),
    ...(section.heading !== undefined ? { heading: section.heading } : {}),
    ...(section.headingPath !== undefined ? { headingPath: section.headingPath } : {}),
  };

  let first = 0;
  /** Where the current chunk starts: its first atom, or earlier to repeat the previous chunk's end. */
  let chunkStart = count > 0 ? (starts[0] as number) : 0;
  while (first < count) {
    // Take atoms while they fit.
    let last = first;
    while (last + 1 < count && (ends[last + 1] as number) - chunkStart <= size) last++;
    // Out of room before the end: prefer to stop at the strongest boundary that keeps it half full.
    if (last + 1 < count) {
      let bestLevel = levels[last + 1] as number;
      const minEnd = chunkStart + size * MIN_FILL;
      for (let k = last - 1; k >= first && (ends[k] as number) >= minEnd; k--) {
        const level = levels[k + 1] as number;
        if (level < bestLevel) {
          bestLevel = level;
          last = k;
        }
      }
    }
    const end = ends[last] as number;
    if (out.length === maxChunks) {
      throw new ExtractionError(`The document makes more than ${maxChunks} chunks; it cannot be indexed`);
    }
    out.push({ ordinal: out.length, text: text.slice(chunkStart, end), ...meta });

    first = last + 1;
    if (first >= count) break;
    const nextStart = starts[first] as number;
    if (overlap > 0) {
      // Repeat up to `overlap` characters, but leave room for the next atom and start after this
      // chunk's own start (so no chunk is contained in the one before it).
      const from = Math.max(end - overlap, (ends[first] as number) - size, chunkStart + 1);
      const start = overlapStart(text, from, end, overlap);
      chunkStart = start < end ? start : nextStart;
    } else {
      chunkStart = nextStart;
    }
  }
}

/**
 * Splits a document into chunks: never across sections, each at most `size` characters, neighbours
 * sharing about `overlap` characters, ordinals 0..n-1, no empty chunks, the same output for the same
 * input. Throws an `ExtractionError` past `maxChunks`.
 */
export function chunkDocument(doc: ExtractedDocument, options: ChunkOptions): Chunk[] {
  const { size, overlap } = options;
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`Chunk size must be a positive integer: ${size}`);
  if (!Number.isInteger(overlap) || overlap < 0 || overlap > maxOverlap(size)) {
    throw new RangeError(`Chunk overlap must be an integer from 0 to a quarter of size: ${overlap}`);
  }
  const limits = { size, overlap, maxChunks: options.maxChunks ?? maxChunksFor(doc, size) };
  const chunks: Chunk[] = [];
  for (const section of doc.sections) chunkSection(section, limits, chunks);
  return chunks;
}
