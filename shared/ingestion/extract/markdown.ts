// Markdown to sections: ATX (`#`) and setext (`===`, `---`) headings start sections, each with the
// path of headings above it; markup that is noise for retrieval is removed (emphasis markers, link
// URLs, fences, table rules), the text kept. The title is the front matter's `title:`, else the
// first h1.

import type { ExtractedSections, Section } from '../types.ts';
import { tidyLine, tidyText } from './text.ts';

const ATX_HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const SETEXT_H1 = /^ {0,3}=+[ \t]*$/;
const SETEXT_H2 = /^ {0,3}-+[ \t]*$/;
const FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})/;
const THEMATIC_BREAK = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const TABLE_RULE = /^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)+\|?[ \t]*$/;
const LINK_DEFINITION = /^ {0,3}\[[^\]]+\]:[ \t]*\S+/;
const BLOCKQUOTE = /^ {0,3}(?:>[ \t]?)+/;
const LIST_ITEM = /^([ \t]*)(?:[-*+]|(\d{1,9})[.)])[ \t]+/;

/**
 * Private-use code points stand in for backslash-escaped punctuation (U+E000 + the ASCII code) and
 * code spans (U+E100 + their index) while markup is stripped. The source's own private-use characters
 * (icon-font glyphs, meaningless as text) are dropped first so they cannot be mistaken for these.
 */
const ESCAPE_BASE = 0xe000;
const PRIVATE_USE = /[\ue000-\uf8ff]/g;

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]+);/gi, (match, entity: string) => {
    if (entity[0] === '#') {
      const code =
        entity[1] === 'x' || entity[1] === 'X'
          ? Number.parseInt(entity.slice(2), 16)
          : Number(entity.slice(1));
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : match;
    }
    return ENTITIES[entity.toLowerCase()] ?? match;
  });
}

/** Inline markup to plain text: code spans kept verbatim, links keep their text, emphasis markers go. */
export function stripInline(line: string): string {
  // Protect escaped punctuation so it is not read as markup.
  let text = line
    .replace(PRIVATE_USE, '')
    .replace(/\\([!-/:-@[-`{-~])/g, (_, char: string) =>
      String.fromCharCode(ESCAPE_BASE + char.charCodeAt(0)),
    );
  const spans: string[] = [];
  // Code spans: keep their content untouched (stored aside, restored at the end).
  text = text.replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, (_, _ticks: string, code: string) => {
    spans.push(code.trim());
    return String.fromCharCode(ESCAPE_BASE + 0x100 + spans.length - 1);
  });
  text = text
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1') // images: alt text
    .replace(/!\[([^\]]*)\]\[[^\]]*\]/g, '$1')
    .replace(/\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)/g, '$1') // links: text
    .replace(/\[([^\]]+)\]\[[^\]]*\]/g, '$1') // reference links
    .replace(/<((?:https?|mailto|ftp):[^>\s]+)>/gi, '$1') // autolinks
    .replace(/<\/?[a-z][a-z0-9-]*(?:\s[^<>]*)?\/?>/gi, '') // inline HTML tags
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/(\*\*|__)(?=\S)([\s\S]*?\S)\1/g, '$2') // strong
    .replace(/~~(?=\S)([\s\S]*?\S)~~/g, '$1') // strikethrough
    .replace(/\*(?=[^\s*])([^*]*?[^\s*])\*/g, '$1') // emphasis with *
    .replace(/(^|[^\p{L}\p{N}_])_(?=[^\s_])([^_]*?[^\s_])_(?![\p{L}\p{N}_])/gu, '$1$2'); // emphasis with _
  text = decodeEntities(text);
  // Restore code spans and escaped characters.
  return text.replace(PRIVATE_USE, (char) => {
    const code = char.charCodeAt(0) - ESCAPE_BASE;
    return code >= 0x100 ? (spans[code - 0x100] ?? '') : String.fromCharCode(code);
  });
}

function tableRow(line: string): string {
  const cells = line
    .trim()
    .replace(/^\|/, '')
    .replace(/(?<!\\)\|$/, '')
    .split(/(?<!\\)\|/)
    .map((cell) => stripInline(cell.trim()));
  return cells.join(' | ');
}

function isTableRow(line: string, next: string | undefined, inTable: boolean): boolean {
  if (!line.includes('|')) return false;
  return inTable || (next !== undefined && TABLE_RULE.test(next));
}

/** YAML double-quoted escapes that can appear in a title (line breaks become spaces). */
const YAML_ESCAPES: Record<string, string> = { n: ' ', t: ' ', '"': '"', '\\': '\\', '/': '/' };

/** A YAML scalar as written after `key:` on one line: plain, 'single' or "double" quoted. */
function yamlScalar(raw: string): string | undefined {
  const value = raw.trim();
  if (value.startsWith("'")) {
    const end = /^'((?:[^']|'')*)'/.exec(value);
    return end?.[1]?.replace(/''/g, "'");
  }
  if (value.startsWith('"')) {
    const end = /^"((?:[^"\\]|\\.)*)"/.exec(value);
    if (!end?.[1]) return undefined;
    return end[1].replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_, escaped: string) => {
      if (escaped.length === 5) return String.fromCharCode(Number.parseInt(escaped.slice(1), 16));
      return YAML_ESCAPES[escaped] ?? escaped;
    });
  }
  // Block scalars, flow collections, aliases and tags are not a one-line title.
  if (/^[|>[{&*!]/.test(value)) return undefined;
  return value.replace(/\s+#.*$/, '');
}

/** The `title:` of YAML front matter (a top-level key on one line), when it has one. */
function frontMatterTitle(lines: readonly string[]): string | undefined {
  for (const line of lines) {
    const match = /^title[ \t]*:(?:[ \t]+(.*))?$/.exec(line);
    if (match) return tidyLine(yamlScalar(match[1] ?? '') ?? '') || undefined;
  }
  return undefined;
}

export function extractMarkdown(source: string): ExtractedSections {
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  const sections: Section[] = [];
  let heading: string | undefined;
  /** The open headings by level (index 0 is h1); a new heading drops those at its level and below. */
  const headings: Array<string | undefined> = [];
  let path: readonly string[] = [];
  let firstH1: string | undefined;
  let body: string[] = [];

  const flush = () => {
    const text = tidyText(body.join('\n'));
    if (text) sections.push(heading === undefined ? { text } : { text, heading, headingPath: path });
    body = [];
  };
  const startSection = (title: string, level: number) => {
    const text = tidyLine(stripInline(title));
    if (!text) return;
    flush();
    heading = text;
    if (level === 1) firstH1 ??= text;
    headings.length = Math.min(headings.length, level - 1);
    headings[level - 1] = text;
    path = headings.filter((entry): entry is string => entry !== undefined);
  };

  let i = 0;
  let title: string | undefined;
  // YAML front matter: metadata, not content (its title is the document's).
  if (lines[0]?.trim() === '---') {
    const end = lines.findIndex((line, index) => index > 0 && /^(?:---|\.\.\.)\s*$/.test(line));
    if (end > 0) {
      title = frontMatterTitle(lines.slice(1, end));
      i = end + 1;
    }
  }

  let fence: string | undefined;
  let inComment = false;
  let inTable = false;
  /**
   * The raw lines of the plain paragraph being read (no list, quote or table lines), which a setext
   * underline turns into a heading; they are also the last `paragraph.length` entries of `body`.
   */
  let paragraph: string[] = [];

  for (; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (fence !== undefined) {
      const closing = line.trim();
      if (closing.startsWith(fence) && /^[`~]+$/.test(closing)) {
        fence = undefined;
        body.push('');
      } else {
        body.push(line);
      }
      continue;
    }
    if (inComment) {
      const end = line.indexOf('-->');
      if (end >= 0) {
        inComment = false;
        body.push(stripInline(line.slice(end + 3)));
      }
      continue;
    }
    const opening = FENCE_OPEN.exec(line);
    if (opening?.[1]) {
      fence = opening[1];
      body.push('');
      paragraph = [];
      continue;
    }
    if (/^ {0,3}<!--/.test(line) && !line.includes('-->')) {
      inComment = true;
      continue;
    }
    if (!line.trim()) {
      body.push('');
      paragraph = [];
      inTable = false;
      continue;
    }
    const atx = ATX_HEADING.exec(line);
    if (atx) {
      startSection(atx[2] ?? '', atx[1]?.length ?? 1);
      paragraph = [];
      inTable = false;
      continue;
    }
    if (paragraph.length > 0 && (SETEXT_H1.test(line) || SETEXT_H2.test(line))) {
      // A setext underline: the paragraph above it is a heading.
      body.splice(body.length - paragraph.length);
      startSection(paragraph.join(' '), SETEXT_H1.test(line) ? 1 : 2);
      paragraph = [];
      continue;
    }
    if (THEMATIC_BREAK.test(line)) {
      body.push('');
      paragraph = [];
      continue;
    }
    const next = lines[i + 1];
    if (LINK_DEFINITION.test(line)) continue;
    if (TABLE_RULE.test(line) && line.includes('|')) {
      inTable = true;
      continue;
    }
    if (isTableRow(line, next, inTable)) {
      body.push(tableRow(line));
      inTable = true;
      paragraph = [];
      continue;
    }
    let content = line.replace(BLOCKQUOTE, '');
    const item = LIST_ITEM.exec(content);
    if (item) {
      const number = item[2];
      content = `${number === undefined ? '-' : `${number}.`} ${content.slice(item[0].length)}`;
    }
    body.push(stripInline(content));
    if (item || content !== line) paragraph = [];
    else paragraph.push(line);
  }
  flush();
  title ??= firstH1;
  return title === undefined ? { sections } : { sections, title };
}
