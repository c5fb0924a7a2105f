// Markdown to sections. markdown-it parses the source (CommonMark with GFM tables and
// strikethrough) in time linear in its length, and the token stream is walked once: top-level ATX
// and setext headings start sections, each with the path of headings above it; markup that is noise
// for retrieval is removed (emphasis markers, link URLs, fences, table rules, raw HTML tags), the
// text kept. The title is the front matter's `title:`, else the first h1.

import MarkdownIt, { type Token } from 'markdown-it';
import type { ExtractedSections, Section } from '../types.ts';
import { htmlText } from './html.ts';
import { tidyLine, tidyText } from './text.ts';

/**
 * markdown-it's limit on nesting (its default). Blocks nested deeper are dropped by the parser, so a
 * top-level block that reaches it is kept as its source lines instead (see `truncatedBlocks`).
 */
const MAX_NESTING = 100;

// Nothing is rendered: `html` only makes raw HTML tokens of their own, which are read as text
// (blocks) or dropped (inline tags), instead of literal text. No linkify, no typographer.
const parser = new MarkdownIt('default', { html: true, maxNesting: MAX_NESTING });

/** Private-use characters (icon-font glyphs) are meaningless as text. */
const PRIVATE_USE = /[\ue000-\uf8ff]/g;

/** The section being written and those done; a top-level heading closes one and opens the next. */
class SectionWriter {
  readonly sections: Section[] = [];
  firstH1: string | undefined;
  /** List markers (`- `, `3. `) owed before the next block's text: the items it opens. */
  marker = '';
  private heading: string | undefined;
  private path: readonly string[] = [];
  /** The open headings by level (index 0 is h1); a new heading drops those at its level and below. */
  private readonly headings: Array<string | undefined> = [];
  private parts: string[] = [];
  /** The source line after the last block read: a blank line between two blocks is kept. */
  private nextLine = 0;
  /** A blank line is owed before the next text (after a fence or a thematic break). */
  private breakOwed = false;

  startSection(level: number, title: string): void {
    const text = tidyLine(title);
    if (!text) return;
    this.flush();
    this.heading = text;
    if (level === 1) this.firstH1 ??= text;
    this.headings.length = Math.min(this.headings.length, level - 1);
    this.headings[level - 1] = text;
    this.path = this.headings.filter((entry): entry is string => entry !== undefined);
  }

  /** A block's text; `apart` blocks (fences, thematic breaks) stand between blank lines. */
  write(text: string, map: Token['map'], apart = false): void {
    if (apart) this.breakOwed = true;
    if (text) {
      const blank = this.breakOwed || (map !== null && map[0] > this.nextLine);
      if (this.parts.length > 0) this.parts.push(blank ? '\n\n' : '\n');
      this.parts.push(this.marker + text);
      this.marker = '';
      this.breakOwed = apart;
    }
    if (map) this.nextLine = map[1];
  }

  flush(): void {
    const text = tidyText(this.parts.join(''));
    const { heading, path } = this;
    if (text) this.sections.push(heading === undefined ? { text } : { text, heading, headingPath: path });
    this.parts = [];
    this.breakOwed = false;
  }
}

/** Inline tokens to their text: code spans verbatim, links by their text, images by their alt text. */
function inlineText(children: Token[] | null, lineBreak: string): string {
  let text = '';
  for (const token of children ?? []) {
    if (token.type === 'text' || token.type === 'text_special' || token.type === 'code_inline') {
      text += token.content;
    } else if (token.type === 'softbreak' || token.type === 'hardbreak') {
      text += lineBreak;
    } else if (token.type === 'image') {
      text += inlineText(token.children, lineBreak);
    }
    // Anything else is markup: link, emphasis and strikethrough markers, raw HTML tags.
  }
  return text.replace(PRIVATE_USE, '');
}

/** A GFM table, from its `table_open` at `start`: one line per row, cells between ` | `. */
function tableText(tokens: Token[], start: number): { text: string; end: number } {
  const rows: string[] = [];
  let cells: string[] = [];
  let index = start;
  for (; index < tokens.length && tokens[index]?.type !== 'table_close'; index++) {
    const token = tokens[index];
    if (token?.type === 'inline') cells.push(tidyLine(inlineText(token.children, ' ')));
    else if (token?.type === 'tr_close') {
      rows.push(cells.join(' | '));
      cells = [];
    }
  }
  return { text: rows.join('\n'), end: index };
}

/**
 * The indices of the top-level blocks that reach markdown-it's nesting limit. The parser drops what
 * lies deeper (without a sign), so these blocks are read as their source lines to lose no text.
 */
function truncatedBlocks(tokens: readonly Token[]): Set<number> {
  const truncated = new Set<number>();
  let top = 0;
  tokens.forEach((token, index) => {
    if (token.level === 0 && token.nesting === 1) top = index;
    if (token.level >= MAX_NESTING - 1) truncated.add(top);
  });
  return truncated;
}

/** The index of the token closing the top-level block opened at `start`. */
function closingIndex(tokens: readonly Token[], start: number): number {
  let index = start + 1;
  while (index < tokens.length && !(tokens[index]?.level === 0 && tokens[index]?.nesting === -1)) index++;
  return index;
}

/** Reads the block token at `index` into the writer; returns the index of the last token it used. */
function readBlock(tokens: Token[], index: number, writer: SectionWriter): number {
  const token = tokens[index];
  if (!token) return index;
  switch (token.type) {
    case 'heading_open': {
      const text = inlineText(tokens[index + 1]?.children ?? null, ' ');
      // Only top-level headings start sections: one in a quote or a list item is part of its text.
      if (token.level === 0) writer.startSection(Number(token.tag.slice(1)), text);
      else writer.write(tidyLine(text), token.map);
      return index + 2;
    }
    case 'paragraph_open':
      writer.write(inlineText(tokens[index + 1]?.children ?? null, '\n'), token.map);
      return index + 2;
    case 'fence':
    case 'code_block':
      writer.write(token.content.replace(/\n$/, ''), token.map, token.type === 'fence');
      return index;
    case 'html_block':
      writer.write(htmlText(token.content), token.map);
      return index;
    case 'hr':
      writer.write('', token.map, true);
      return index;
    case 'table_open': {
      const { text, end } = tableText(tokens, index);
      writer.write(text, token.map);
      return end;
    }
    case 'list_item_open':
      // Ordered items keep the number as written; bullets of any kind become `-`.
      writer.marker += token.info ? `${token.info}. ` : '- ';
      return index;
    case 'list_item_close':
      writer.marker = '';
      return index;
    default:
      // Quotes and lists: their content is read token by token.
      return index;
  }
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
  // A comment starts at a `#` after whitespace (searched for once: `\s+#.*$` would be quadratic).
  const comment = value.search(/\s#/);
  return comment < 0 ? value : value.slice(0, comment);
}

/** The `title:` of YAML front matter (a top-level key on one line), when it has one. */
function frontMatterTitle(lines: readonly string[]): string | undefined {
  for (const line of lines) {
    const match = /^title[ \t]*:(?:[ \t]+(.*))?$/.exec(line);
    if (match) return tidyLine(yamlScalar(match[1] ?? '') ?? '') || undefined;
  }
  return undefined;
}

/** YAML front matter (metadata, not content): its title and the lines after it. */
function splitFrontMatter(lines: string[]): { title: string | undefined; body: string[] } {
  if (lines[0]?.trim() !== '---') return { title: undefined, body: lines };
  const end = lines.findIndex((line, index) => index > 0 && /^(?:---|\.\.\.)\s*$/.test(line));
  if (end < 0) return { title: undefined, body: lines };
  return { title: frontMatterTitle(lines.slice(1, end)), body: lines.slice(end + 1) };
}

export function extractMarkdown(source: string): ExtractedSections {
  const { title, body } = splitFrontMatter(source.replace(/\r\n?/g, '\n').split('\n'));
  const tokens = parser.parse(body.join('\n'), {});
  const truncated = truncatedBlocks(tokens);
  const writer = new SectionWriter();
  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index];
    if (token && truncated.has(index)) {
      const [from, to] = token.map ?? [0, 0];
      writer.write(body.slice(from, to).join('\n'), token.map);
      index = closingIndex(tokens, index);
    } else {
      index = readBlock(tokens, index, writer);
    }
  }
  writer.flush();
  const documentTitle = title ?? writer.firstH1;
  return documentTitle === undefined
    ? { sections: writer.sections }
    : { sections: writer.sections, title: documentTitle };
}
