// The fast-check arbitraries behind test/resilience/fuzz.test.ts: hostile path segments, query
// strings, headers and bodies for Parley's HTTP API. Sizes stay within what API Gateway passes on
// (request line and headers well under 10 KB, bodies under 300 KB), so a 4xx or 5xx is the
// platform's answer to the input and not a transport limit of the local gateway.

import fc from 'fast-check';

// ---------------------------------------------------------------------------------------------
// Strings

/** Lone surrogates cannot be percent-encoded (encodeURIComponent throws): they become U+FFFD. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
export const encodeSegment = (value: string) => encodeURIComponent(value.replace(LONE_SURROGATE, '\ufffd'));

/** Strings that have broken routers, parsers and key schemas elsewhere. */
export const NASTY_STRINGS: readonly string[] = [
  '',
  ' ',
  '\t',
  '\n',
  '.',
  '..',
  '../',
  '../../../etc/passwd',
  '..\\..\\windows',
  '%00',
  '\u0000',
  '%',
  '%zz',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-1',
  '0',
  '1e309',
  'true',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '<script>alert(1)</script>',
  "' OR '1'='1",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template injection probe, meant literally.
  '${7*7}',
  '😀',
  '\u202eevil',
  '\ufeff',
  '\ud800',
  'ｂｏｔ',
  'İ',
  // Parley's key prefixes: an id must never reach into another item's key space.
  'TENANT#x',
  'BOT#',
  'KEY#x',
  '#',
  '?',
  '&',
  '=',
  '+',
  '*',
  // Past DynamoDB's 1024-byte sort key limit.
  'x'.repeat(1025),
];

const BASE62 = [...'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'];
const base62 = (length: number) =>
  fc.string({ unit: fc.constantFrom(...BASE62), minLength: length, maxLength: length });

/** Shaped like Parley's ids (`bot_` and 22 base62 characters) but naming nothing. */
export const unknownId = fc
  .tuple(fc.constantFrom('tnt', 'bot', 'doc', 'ses', 'msg'), base62(22))
  .map(([prefix, rest]) => `${prefix}_${rest}`);

/** Shaped like an admin key (`pk_<16>_<43>`) but unknown. */
export const unknownApiKey = fc.tuple(base62(16), base62(43)).map(([id, secret]) => `pk_${id}_${secret}`);

/**
 * A long run of one character whose percent-encoded length stays under `maxEncoded`: long enough
 * to pass key size limits, short enough for the URL limits of a real gateway.
 */
export const longText = (maxEncoded: number) =>
  fc
    .constantFrom('a', 'é', '😀', '漢', '%', '/', '.', ' ', '\u0000', '#')
    .chain((unit) =>
      fc
        .integer({ min: 100, max: Math.max(100, Math.floor(maxEncoded / encodeSegment(unit).length)) })
        .map((count) => unit.repeat(count)),
    );

/** Any text, unicode included (fc's default is ASCII). */
const anyText = (maxLength: number) =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: 'grapheme', maxLength }),
    fc.string({ unit: 'binary', maxLength }),
  );

export const garbageText = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY_STRINGS), weight: 3 },
  { arbitrary: anyText(40), weight: 3 },
  { arbitrary: unknownId, weight: 1 },
  { arbitrary: longText(2000), weight: 1 },
);

// ---------------------------------------------------------------------------------------------
// Path

/** Already percent-encoded, or deliberately not: what a client may put in a path verbatim. */
const RAW_SEGMENTS = [
  '%00',
  '%zz',
  '%',
  '%2F',
  '%2e%2e',
  '%2E',
  '%C0%AE',
  '%ff',
  '%u002e',
  ';x=1',
  '~',
  "'",
  '+',
  '%20',
];

/**
 * `.` and `..` (`%2e` too) are resolved by every URL parser before the request is sent: in
 * `DELETE /admin/bots/{botId}/documents/..` the server would see, and delete, the bot.
 */
const isDotSegment = (segment: string) => /^(\.|%2e){1,2}$/i.test(segment);

/** One path parameter: a real value half the time, garbage the other half. */
export function pathSegment(real: readonly string[]): fc.Arbitrary<string> {
  const garbage = fc
    .oneof(
      { arbitrary: garbageText.map(encodeSegment), weight: 4 },
      { arbitrary: fc.constantFrom(...RAW_SEGMENTS), weight: 1 },
    )
    .filter((segment) => !isDotSegment(segment));
  return real.length > 0 ? fc.oneof(fc.constantFrom(...real).map(encodeSegment), garbage) : garbage;
}

// ---------------------------------------------------------------------------------------------
// Query

export type QueryPair = readonly [key: string, value: string];

const numberish = fc.constantFrom(
  '0',
  '1',
  '-1',
  '20',
  '100',
  '101',
  '1.5',
  '1e3',
  '0x10',
  ' 5',
  '5 ',
  'NaN',
  'Infinity',
  '9007199254740993',
  '1'.repeat(400),
  '',
);

/** `limit` values: in range, out of range, not numbers. */
export const limitValue = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 100 }).map(String), weight: 3 },
  { arbitrary: fc.integer({ min: -5, max: 200 }).map(String), weight: 1 },
  { arbitrary: numberish, weight: 1 },
  { arbitrary: garbageText, weight: 1 },
);

/** A day as YYYY-MM-DD across the years Date can write with four digits, and dates that are not. */
export const dayValue = fc.oneof(
  {
    arbitrary: fc
      .date({
        min: new Date('0001-01-01T00:00:00Z'),
        max: new Date('9999-12-31T00:00:00Z'),
        noInvalidDate: true,
      })
      .map((date) => date.toISOString().slice(0, 10)),
    weight: 3,
  },
  {
    arbitrary: fc.constantFrom(
      '2026-02-30',
      '2026-13-01',
      '2026-00-10',
      '0000-00-00',
      '2026-1-1',
      '+275760-09-13',
      '-000001-01-01',
      '2026-01-01T00:00:00Z',
      '2026/01/01',
      'today',
    ),
    weight: 1,
  },
  { arbitrary: garbageText, weight: 1 },
);

/** A usage range: `to` a few days either side of `from` up to past the 366-day maximum. */
export const usageRange = fc
  .tuple(
    fc.date({
      min: new Date('0001-01-01T00:00:00Z'),
      max: new Date('9999-01-01T00:00:00Z'),
      noInvalidDate: true,
    }),
    fc.integer({ min: -3, max: 400 }),
  )
  .map(([from, days]) => {
    const to = new Date(from.getTime() + days * 86_400_000);
    return [from.toISOString().slice(0, 10), to.toISOString().slice(0, 10)] as const;
  });

/** Cursors: real ones of this list or another, hand-edited real ones, and fakes. */
export function cursorValue(realCursors: readonly string[]): fc.Arbitrary<string> {
  const fieldValue = fc.oneof(
    fc.constantFrom('', 'BOT#', 'BOT#zzz', 'TENANT#', 'SESSION#', 'DOC#', 'x'.repeat(1100), '\u0000'),
    garbageText,
    fc.jsonValue({ maxDepth: 1 }),
  );
  const fakes = fc.oneof(
    garbageText,
    fc
      .jsonValue({ maxDepth: 2 })
      .map((value) => Buffer.from(JSON.stringify(value) ?? '').toString('base64url')),
    fc.constant('a'.repeat(2001)),
  );
  if (realCursors.length === 0) return fakes;
  const edited = fc
    .tuple(fc.constantFrom(...realCursors), fc.nat(), fc.constantFrom('replace', 'drop', 'add'), fieldValue)
    .map(([cursor, pick, edit, value]) => {
      const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>;
      const names = Object.keys(key);
      const name = names[pick % names.length] ?? 'pk';
      if (edit === 'drop') delete key[name];
      else if (edit === 'add') key[`extra${pick % 3}`] = value;
      else key[name] = value;
      return Buffer.from(JSON.stringify(key)).toString('base64url');
    });
  return fc.oneof(
    { arbitrary: fc.constantFrom(...realCursors), weight: 2 },
    { arbitrary: edited, weight: 2 },
    { arbitrary: fakes, weight: 1 },
  );
}

/** Joins pairs into a query string: mostly encoded, sometimes verbatim (stray `%`, `&`, `=`). */
export function queryString(pairs: fc.Arbitrary<readonly QueryPair[]>): fc.Arbitrary<string> {
  return fc
    .tuple(pairs, fc.boolean(), fc.constantFrom('', '', '', '&', '&&', '=', '?'))
    .map(([list, verbatim, stray]) => {
      const encode = verbatim ? (value: string) => value.replace(/[#\s]/g, '_') : encodeSegment;
      const text = list.map(([key, value]) => `${encode(key)}=${encode(value)}`).join('&') + stray;
      return text ? `?${text}` : '';
    });
}

/** Random keys and values, as a client with the wrong idea of the API would send. */
export const randomPairs = fc.array(
  fc.tuple(fc.oneof(fc.string({ maxLength: 12 }), garbageText), garbageText),
  {
    maxLength: 4,
  },
);

// ---------------------------------------------------------------------------------------------
// Headers

const headerChar = fc.oneof(
  { arbitrary: fc.integer({ min: 0x20, max: 0x7e }), weight: 8 },
  { arbitrary: fc.constant(0x09), weight: 1 },
  { arbitrary: fc.integer({ min: 0x80, max: 0xff }), weight: 1 },
);
/** What fetch can send in a header value (no control characters, nothing above U+00FF). */
export const headerValue = (maxLength: number) =>
  fc.string({ unit: headerChar.map((code) => String.fromCharCode(code)), maxLength });

const TOKEN_CHARS = [..."abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~"];
/** Extra header names under `x-`: never one fetch or the connection itself interprets (host, expect…). */
const extraHeaderName = fc
  .string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 20 })
  .map((name) => `x-${name}`);

export const CONTENT_TYPES: readonly string[] = [
  'application/json; charset=utf-8',
  'application/json;charset=UTF-8',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/json; charset=nonsense',
  'APPLICATION/JSON',
  'application/jsonx',
  'application/vnd.api+json',
  'application/problem+json',
  'text/json',
  'text/plain',
  'text/html',
  'application/x-www-form-urlencoded',
  'application/xml',
  // Binary media types: API Gateway hands these bodies to functions base64-encoded.
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'image/png',
  '',
  ';',
  '*/*',
];

export const contentType = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 40 },
  { arbitrary: fc.constantFrom(...CONTENT_TYPES), weight: 3 },
  { arbitrary: headerValue(60), weight: 1 },
);

/** Extra headers a client, proxy or attacker may add; names are checked only by their values. */
export function extraHeaders(known: readonly string[]): fc.Arbitrary<readonly (readonly [string, string])[]> {
  const name = fc.oneof(fc.constantFrom(...known), extraHeaderName);
  return fc.array(fc.tuple(name, headerValue(200)), { maxLength: 4 });
}

// ---------------------------------------------------------------------------------------------
// Bodies

/** A route's body fields: `null` is a value, an object a nested group of fields. */
export type FieldTree = { readonly [name: string]: FieldTree | null };

/** Values of the wrong type, or the right type and wrong size. */
export const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    null,
    true,
    false,
    0,
    -1,
    -0,
    0.5,
    1e308,
    -1e308,
    2 ** 53 + 2,
    Number.MAX_SAFE_INTEGER,
    [],
    {},
    [null],
    '',
    ' ',
    '   \t\n  ',
  ),
  fc.constantFrom(...NASTY_STRINGS),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  anyText(30),
  fc.jsonValue({ maxDepth: 2 }),
  fc.integer({ min: 1000, max: 30_000 }).map((length) => 'y'.repeat(length)),
);

/** Objects with the route's own field names (nested groups too), holding the wrong things. */
export function fieldObject(fields: FieldTree): fc.Arbitrary<Record<string, unknown>> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, nested] of Object.entries(fields)) {
    model[name] = nested ? fc.oneof(fieldObject(nested), wrongValue) : wrongValue;
  }
  return fc.record(model, { requiredKeys: [] });
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path into a JSON value, root excluded. */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value))
    return value.flatMap((item, i) => [[...prefix, i], ...pathsOf(item, [...prefix, i])]);
  if (value && typeof value === 'object')
    return Object.entries(value).flatMap(([key, item]) => [
      [...prefix, key],
      ...pathsOf(item, [...prefix, key]),
    ]);
  return [];
}

/** A copy of `value` with one node replaced, removed, or given an unknown sibling. */
function mutate(
  value: unknown,
  pick: number,
  edit: 'replace' | 'drop' | 'add',
  replacement: unknown,
): unknown {
  const copy = structuredClone(value) as Json;
  const paths = pathsOf(copy);
  const path = paths[pick % Math.max(1, paths.length)];
  if (!path) return replacement;
  let parent: Json = copy;
  for (const step of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[step] as Json;
  const last = path.at(-1) as string | number;
  const holder = parent as Record<string | number, unknown>;
  if (edit === 'drop') {
    if (Array.isArray(holder)) holder.splice(Number(last), 1);
    else delete holder[last];
  } else if (edit === 'add' && !Array.isArray(holder)) {
    holder[`unexpected${pick % 7}`] = replacement;
  } else {
    holder[last] = replacement;
  }
  return copy;
}

/** A valid body with one field wrong: these get past the first checks into the use-cases. */
export function mutatedBody(valid: readonly unknown[]): fc.Arbitrary<unknown> {
  return fc
    .tuple(fc.constantFrom(...valid), fc.nat(), fc.constantFrom('replace', 'drop', 'add'), wrongValue)
    .map(([body, pick, edit, replacement]) => mutate(body, pick, edit, replacement));
}

/** Not JSON, or JSON with something a lenient parser would forgive. */
export function malformedJson(valid: readonly unknown[]): fc.Arbitrary<string> {
  const text = valid.length > 0 ? JSON.stringify(valid[0]) : '{"a":1}';
  return fc.oneof(
    fc.constantFrom(
      '{',
      '}',
      '[',
      '{"a":',
      "{'name':'x'}",
      '{"name":"x",}',
      '{"name":"x"}garbage',
      '{"name":"x"}{"name":"y"}',
      '{name:"x"}',
      '"unterminated',
      '\ufeff{"name":"x"}',
      '{"a":1e999}',
      '{"a":-0}',
      '{"a":"\\ud800"}',
      '{"a":"\\u0000"}',
      '{"a":NaN}',
      '{"a":Infinity}',
      '{"a":undefined}',
      'null',
      'true',
      '0',
      '""',
      '[]',
      ' ',
      '\u0000',
      '// comment\n{}',
    ),
    fc.nat({ max: Math.max(1, text.length - 1) }).map((cut) => text.slice(0, cut)),
    anyText(80),
  );
}

/** JSON text nested `depth` levels deep, in arrays or objects, under one of the route's field names. */
export function deeplyNested(fieldNames: readonly string[]): fc.Arbitrary<string> {
  return fc
    .tuple(fc.integer({ min: 50, max: 20_000 }), fc.boolean(), fc.constantFrom(...fieldNames, 'x'))
    .map(([depth, arrays, field]) => {
      const inner = arrays
        ? `${'['.repeat(depth)}1${']'.repeat(depth)}`
        : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      return `{${JSON.stringify(field)}:${inner}}`;
    });
}

/** Bodies that try to reach Object.prototype through the JSON parser or an object spread. */
export function pollutingJson(fieldNames: readonly string[]): fc.Arbitrary<string> {
  return fc
    .constantFrom(...fieldNames, 'x')
    .chain((field) =>
      fc.constantFrom(
        '{"__proto__":{"polluted":true}}',
        `{${JSON.stringify(field)}:"x","__proto__":{"polluted":true}}`,
        `{"constructor":{"prototype":{"polluted":true}},${JSON.stringify(field)}:"x"}`,
        `{${JSON.stringify(field)}:{"__proto__":{"polluted":true}}}`,
        `{${JSON.stringify(field)}:{"constructor":{"prototype":{"polluted":true}}}}`,
        '{"__proto__":null}',
        '{"__proto__":[]}',
        '[{"__proto__":{"polluted":true}}]',
      ),
    );
}

/**
 * A body near the size limits: JSON with one huge string field (admin bodies are capped at 256 KB:
 * past it the answer is 413), or huge non-JSON text. Kept under 300 KB.
 */
export function hugeBody(fieldNames: readonly string[]): fc.Arbitrary<string> {
  return fc
    .tuple(fc.integer({ min: 200_000, max: 299_000 }), fc.constantFrom(...fieldNames, 'x'), fc.boolean())
    .map(([size, field, json]) =>
      json ? JSON.stringify({ [field]: 'z'.repeat(size - field.length - 10) }) : 'z'.repeat(size),
    );
}

/**
 * Valid JSON of exactly `bytes` bytes (one long string field), to cross a body cap by one byte
 * or by megabytes: no cap may depend on the body being malformed.
 */
export function oversizeJson(field: string, bytes: number): string {
  const frame = JSON.stringify({ [field]: '' }).length;
  return JSON.stringify({ [field]: 'z'.repeat(Math.max(0, bytes - frame)) });
}

/** Arbitrary bytes, invalid UTF-8 included. */
export const binaryBody = fc.uint8Array({ maxLength: 512 });
