// Decoding and tidying plain text: byte-order marks, UTF-8 validation, line endings, whitespace.

import { ExtractionError } from '../types.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
const utf16le = new TextDecoder('utf-16le', { fatal: true, ignoreBOM: false });
const utf16be = new TextDecoder('utf-16be', { fatal: true, ignoreBOM: false });

export type TextProblem = 'binary' | 'encoding';

/** How much of the start is inspected for control characters. */
const SAMPLE = 8192;

function hasBom(bytes: Uint8Array, ...bom: number[]): boolean {
  return bom.every((byte, index) => bytes[index] === byte);
}

/** More than a few C0 control characters (other than tab, newlines, form feed, escape) means binary. */
function controlCharacterShare(text: string): number {
  const length = Math.min(text.length, SAMPLE);
  if (length === 0) return 0;
  let controls = 0;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code < 32 && code !== 9 && code !== 10 && code !== 12 && code !== 13 && code !== 27) controls++;
  }
  return controls / length;
}

/**
 * Decodes text bytes: UTF-8 with or without a byte-order mark, or UTF-16 with one (what Windows
 * tools write when they say "Unicode"). Returns the problem instead when the bytes are binary (NUL
 * bytes, many control characters) or not valid UTF-8.
 */
export function decodeText(bytes: Uint8Array): { text: string } | { problem: TextProblem } {
  if (hasBom(bytes, 0xff, 0xfe) || hasBom(bytes, 0xfe, 0xff)) {
    try {
      const text = (bytes[0] === 0xff ? utf16le : utf16be).decode(bytes);
      return text.includes('\0') || controlCharacterShare(text) > 0.01 ? { problem: 'binary' } : { text };
    } catch {
      return { problem: 'binary' };
    }
  }
  if (bytes.includes(0)) return { problem: 'binary' };
  let text: string;
  try {
    // The decoder drops a UTF-8 byte-order mark itself (ignoreBOM: false).
    text = utf8.decode(bytes);
  } catch {
    return { problem: 'encoding' };
  }
  return controlCharacterShare(text) > 0.01 ? { problem: 'binary' } : { text };
}

/** Decodes text or throws the reason a person understands. */
export function decodeTextOrThrow(bytes: Uint8Array, describe: (bytes: Uint8Array) => string): string {
  const decoded = decodeText(bytes);
  if ('text' in decoded) return decoded.text;
  if (decoded.problem === 'encoding') {
    throw new ExtractionError(
      'The file is not UTF-8 text (it may use a legacy encoding such as Windows-1252); save it as UTF-8 and upload it again',
    );
  }
  throw new ExtractionError(`The file is not a text file (its content looks like ${describe(bytes)})`);
}

const HORIZONTAL_SPACE = /[ \t\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point here.
const CONTROL = /[\u0000-\u0008\u000b\u000e-\u001f\u007f\ufeff]/g;

/**
 * Line endings to `\n`, control characters and stray byte-order marks removed, runs of horizontal
 * space to one space, lines trimmed, at most one blank line in a row, and no blank lines at either end.
 */
export function tidyText(text: string): string {
  return text
    .replace(/\r\n?|[\u2028\u2029\u0085]/g, '\n')
    .replace(CONTROL, '')
    .replace(HORIZONTAL_SPACE, ' ')
    .replace(/ ?\n ?/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

export function hasText(text: string): boolean {
  return /\S/.test(text);
}

/** Tidied text on one line: what a heading or a title is made of. */
export function tidyLine(text: string): string {
  return tidyText(text).replace(/\n+/g, ' ');
}
