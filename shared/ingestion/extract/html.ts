// HTML to sections: visible text only, one section per heading, each with the path of headings
// above it (h1–h6 by level). The title is the <title>, else the first h1. Also used for DOCX,
// which mammoth turns into simple HTML (headings, paragraphs, lists, tables, footnotes).

import { Parser } from 'htmlparser2';
import type { ExtractedSections, Section } from '../types.ts';
import { tidyLine, tidyText } from './text.ts';

/** Elements whose content is never visible text (or is navigation chrome repeated on every page). */
const SKIPPED = new Set([
  'script',
  'style',
  'noscript',
  'template',
  'svg',
  'math',
  'iframe',
  'object',
  'embed',
  'canvas',
  'audio',
  'video',
  'select',
  'datalist',
  'nav',
]);

/** Blocks that stand apart: a blank line before and after. */
const PARAGRAPH_BLOCKS = new Set([
  'p',
  'blockquote',
  'pre',
  'table',
  'ul',
  'ol',
  'dl',
  'hr',
  'figure',
  'section',
  'article',
  'header',
  'footer',
  'main',
  'aside',
  'address',
  'details',
  'fieldset',
  'form',
  'center',
  'dialog',
  'hgroup',
  'search',
]);

/** Blocks that start on a new line. */
const LINE_BLOCKS = new Set([
  'div',
  'li',
  'tr',
  'dt',
  'dd',
  'caption',
  'figcaption',
  'summary',
  'legend',
  'option',
  'menu',
  'thead',
  'tbody',
  'tfoot',
]);

const VOID_IN_HEAD = new Set(['meta', 'link', 'base']);

const HEADINGS = new Set(['h1', 'h2', 'h3', 'h4', 'h5', 'h6']);

const NONE = 0;
const LINE = 1;
const PARAGRAPH = 2;

interface OpenSection {
  heading: string | undefined;
  /** The headings above the section, outermost first (its last entry is `heading`). */
  path: readonly string[];
  parts: string[];
}

/** The ARIA landmark for navigation, what <nav> is: chrome, not content (Sphinx's sidebars). */
const NAVIGATION_ROLE = /(?:^|\s)navigation(?:\s|$)/i;

/** Permalink anchors ("¶" in Sphinx and MkDocs, "#" elsewhere) carry no words of the heading. */
const HEADER_LINK_CLASS = /(?:^|\s)headerlink(?:\s|$)/;
const WORDS = /[\p{L}\p{N}]/u;

export interface HtmlOptions {
  /** Drop mammoth's footnote and endnote back-links ("↑"). */
  readonly docx?: boolean;
}

export function extractHtml(html: string, options: HtmlOptions = {}): ExtractedSections {
  const sections: Section[] = [];
  let current: OpenSection = { heading: undefined, path: [], parts: [] };
  let title: string | undefined;
  let firstH1: string | undefined;
  let sawHeading = false;
  /** The open headings by level (index 0 is h1); a new heading drops those at its level and below. */
  const headings: Array<string | undefined> = [];

  let skipDepth = 0;
  /** Inside <head>: nothing but the <title> is read there. */
  let inHead = false;
  let inTitle = false;
  const titleParts: string[] = [];
  let headingParts: string[] | undefined;
  let headingLevel = 0;
  /** Inside a heading, the anchor being read: where its text starts and where it links. */
  let anchor: { start: number; href: string } | undefined;
  let preDepth = 0;
  let cellDepth = 0;
  /** Break owed before the next text: NONE, LINE or PARAGRAPH. */
  let pendingBreak = NONE;
  /** Whether the last text written ended in whitespace (or nothing has been written on this line). */
  let atSpace = true;
  /** Per open table row: how many cells it has opened so far. */
  const rowCells: number[] = [];
  /** Per open list: the next number for an ordered list, or 0 for bullets. */
  const lists: number[] = [];
  /** The marker of a list item whose text has not started yet. */
  let marker: string | undefined;

  const flush = () => {
    const text = tidyText(current.parts.join(''));
    if (text) {
      sections.push(
        current.heading === undefined
          ? { text }
          : { text, heading: current.heading, headingPath: current.path },
      );
    }
  };

  const requestBreak = (kind: number) => {
    if (headingParts) {
      headingParts.push(' ');
      return;
    }
    if (cellDepth > 0) {
      if (!atSpace) {
        current.parts.push(' ');
        atSpace = true;
      }
      return;
    }
    if (kind > pendingBreak) pendingBreak = kind;
  };

  const write = (text: string) => {
    if (headingParts) {
      headingParts.push(text);
      return;
    }
    if (pendingBreak !== NONE) {
      if (current.parts.length > 0) current.parts.push(pendingBreak === PARAGRAPH ? '\n\n' : '\n');
      pendingBreak = NONE;
      atSpace = true;
    }
    if (marker) {
      // A list item's marker goes right before its first text, after any blocks it opens.
      current.parts.push(marker);
      marker = undefined;
    }
    current.parts.push(text);
  };

  const writeText = (raw: string) => {
    if (headingParts) {
      headingParts.push(raw);
      return;
    }
    if (preDepth > 0) {
      write(raw);
      atSpace = /\s$/.test(raw);
      return;
    }
    let text = raw.replace(/[\t\n\f\r ]+/g, ' ');
    if (atSpace || pendingBreak !== NONE || marker) text = text.replace(/^ /, '');
    if (!text) return;
    write(text);
    atSpace = text.endsWith(' ');
  };

  const parser = new Parser(
    {
      onopentag(name, attributes) {
        if (skipDepth > 0) {
          skipDepth++;
          return;
        }
        if (name === 'head') {
          inHead = true;
          return;
        }
        if (name === 'body') inHead = false;
        if (name === 'title' && title === undefined && !sawHeading) {
          inTitle = true;
          return;
        }
        if (inHead && name !== 'title') {
          // <meta>, <link> and <base> are void; anything else in <head> is skipped whole.
          if (!VOID_IN_HEAD.has(name)) skipDepth = 1;
          return;
        }
        if (
          SKIPPED.has(name) ||
          'hidden' in attributes ||
          attributes['aria-hidden'] === 'true' ||
          NAVIGATION_ROLE.test(attributes.role ?? '') ||
          (name === 'a' && HEADER_LINK_CLASS.test(attributes.class ?? '')) ||
          (options.docx && name === 'a' && /^#(?:footnote|endnote)-ref-/.test(attributes.href ?? ''))
        ) {
          skipDepth = 1;
          return;
        }
        if (HEADINGS.has(name) && cellDepth === 0 && !headingParts) {
          headingParts = [];
          headingLevel = Number(name[1]);
          return;
        }
        if (name === 'a' && headingParts) {
          anchor = { start: headingParts.length, href: attributes.href ?? '' };
          return;
        }
        if (name === 'br') {
          // Two line breaks in a row are how many pages separate paragraphs.
          if (headingParts || cellDepth > 0 || preDepth === 0)
            requestBreak(pendingBreak === LINE ? PARAGRAPH : LINE);
          if (preDepth > 0 && !headingParts) write('\n');
          atSpace = true;
          return;
        }
        if (name === 'pre') preDepth++;
        if (name === 'td' || name === 'th') {
          const index = rowCells.length - 1;
          const opened = rowCells[index] ?? 0;
          if (index >= 0) rowCells[index] = opened + 1;
          if (opened > 0 && cellDepth === 0) {
            write(' | ');
            atSpace = true;
          }
          cellDepth++;
          return;
        }
        if (name === 'tr') rowCells.push(0);
        if (name === 'ul' || name === 'menu') lists.push(0);
        if (name === 'ol') lists.push(Number.parseInt(attributes.start ?? '1', 10) || 1);
        if (PARAGRAPH_BLOCKS.has(name)) requestBreak(PARAGRAPH);
        else if (LINE_BLOCKS.has(name)) requestBreak(LINE);
        if (name === 'li' && cellDepth === 0 && !headingParts) {
          const depth = lists.length - 1;
          const next = lists[depth];
          if (next !== undefined && next > 0) {
            lists[depth] = next + 1;
            marker = `${next}. `;
          } else {
            marker = '- ';
          }
        }
      },
      ontext(text) {
        if (skipDepth > 0) return;
        if (inTitle) {
          titleParts.push(text);
          return;
        }
        if (inHead) return;
        writeText(text);
      },
      onclosetag(name) {
        if (skipDepth > 0) {
          skipDepth--;
          return;
        }
        if (inTitle && name === 'title') {
          inTitle = false;
          title = tidyLine(titleParts.join('')) || undefined;
          if (!sawHeading) {
            current.heading = title;
            current.path = title === undefined ? [] : [title];
          }
          return;
        }
        if (name === 'head') {
          inHead = false;
          return;
        }
        if (name === 'a' && headingParts && anchor) {
          // A link to its own heading with no words ("¶", "#", an icon) is a permalink: dropped.
          const own = headingParts.slice(anchor.start).join('');
          if (anchor.href.startsWith('#') && !WORDS.test(own)) headingParts.length = anchor.start;
          anchor = undefined;
          return;
        }
        if (HEADINGS.has(name) && headingParts) {
          const heading = tidyLine(headingParts.join(''));
          headingParts = undefined;
          anchor = undefined;
          if (heading) {
            flush();
            sawHeading = true;
            if (headingLevel === 1) firstH1 ??= heading;
            headings.length = Math.min(headings.length, headingLevel - 1);
            headings[headingLevel - 1] = heading;
            const path = headings.filter((entry): entry is string => entry !== undefined);
            current = { heading, path, parts: [] };
            pendingBreak = NONE;
            atSpace = true;
          }
          return;
        }
        if (name === 'pre' && preDepth > 0) preDepth--;
        if ((name === 'td' || name === 'th') && cellDepth > 0) {
          cellDepth--;
          return;
        }
        if (name === 'tr') rowCells.pop();
        if (name === 'li') marker = undefined;
        if (name === 'ul' || name === 'ol' || name === 'menu') lists.pop();
        if (PARAGRAPH_BLOCKS.has(name)) requestBreak(PARAGRAPH);
        else if (LINE_BLOCKS.has(name)) requestBreak(LINE);
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();
  flush();
  const documentTitle = title ?? firstH1;
  return documentTitle === undefined ? { sections } : { sections, title: documentTitle };
}
