// Tenant isolation, swept over every route of the HTTP API against the local platform (started once
// by jest's global setup). Two tenants, A and B, each with two keys, a private and a public bot,
// ready documents, conversations and connected channels; then B tries every route of the route
// table against A's things: A's ids in every path position and mixed with its own, with valid
// bodies, so that what answers is the ownership check. Another tenant's things are 404 exactly as
// ids that do not exist (same status, code and message: nothing confirms they exist), no answer
// carries anything of A's (B's own searches and chat turns included: the vector index is shared),
// and everything A can read is the same afterwards. A route added to the table without a plan here
// fails the sweep. The table printed at the end says how many attempts each route had, and what
// it answered.

import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { newId, newTimeOrderedId } from '../../shared/domain/ids.ts';
import { type RouteDefinition, routeKey, routes } from '../../shared/resources.ts';
import { messengerText, metaSignature, whatsappText } from '../support/channels.ts';
import { uploadDocument, waitForDocument } from '../support/knowledge.ts';
import {
  type ApiOptions,
  type ApiResponse,
  api,
  documentClientAt,
  platform,
  queueBacklog,
} from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';
import { routeTally } from './route-tally.ts';

/** Lower-case: it ends up in origins, which URLs lower-case. */
const RUN = Math.random().toString(36).slice(2, 8);
/** High enough that the sweep's own pace never meets them: a 429 would hide the ownership check. */
const RATE_LIMITS = { perMinute: 100_000, perSecond: 10_000, perUserPerMinute: 10_000 };
const PLAN = { monthlyMessages: 1_000_000, monthlyTokens: 1_000_000_000, maxDocuments: 100 };
/** Requests in flight at once: the sweep is a few hundred requests, chat turns among them. */
const CONCURRENCY = 6;
/** Both tenants' documents answer it (refunds), each with its own; A's must never come back to B. */
const QUESTION = 'How long do refunds take?';
const CHALLENGE = `challenge-${RUN}`;
const DAY_MS = 86_400_000;
/** Around today (UTC), fixed once: a run across midnight still compares the same days. */
const USAGE_RANGE = {
  from: new Date(Date.now() - DAY_MS).toISOString().slice(0, 10),
  to: new Date(Date.now() + DAY_MS).toISOString().slice(0, 10),
};

type Owner = 'A' | 'B';
type Variant = 'private' | 'public';
const VARIANTS: readonly Variant[] = ['private', 'public'];
type MetaChannel = 'whatsapp' | 'messenger';
/** The channel each bot is connected to. */
const CHANNEL_OF: Record<Variant, MetaChannel> = { private: 'whatsapp', public: 'messenger' };
type IdSlot = 'tenantId' | 'keyId' | 'botId' | 'documentId' | 'sessionId' | 'questionId' | 'evaluationId';
const ID_SLOTS: readonly string[] = [
  'tenantId',
  'keyId',
  'botId',
  'documentId',
  'sessionId',
  'questionId',
  'evaluationId',
];
type ListName = 'keys' | 'bots' | 'documents' | 'sessions' | 'questions' | 'evaluations';

interface Credentials {
  whatsapp: { phoneNumberId: string; accessToken: string; appSecret: string; verifyToken: string };
  messenger: { pageId: string; pageAccessToken: string; appSecret: string; verifyToken: string };
}

interface TenantWorld {
  owner: Owner;
  tenantId: string;
  /** The tenant's first key, and a second one. */
  keys: readonly [{ apiKey: string; keyId: string }, { apiKey: string; keyId: string }];
  /** The public bot's allowed origin. */
  origin: string;
  bots: Record<Variant, string>;
  credentials: Credentials;
  /** Two on the private bot (so its list has a second page), one on the public bot. */
  documents: Record<Variant, string[]>;
  /** Two on the private bot through the key, one on the public bot from its site. */
  sessions: Record<Variant, string[]>;
  /** Test questions: two on the private bot, one on the public bot. */
  questions: Record<Variant, string[]>;
  /** Finished evaluation runs: two on the private bot, one on the public bot. */
  evaluations: Record<Variant, string[]>;
  /** `nextCursor` of a first page of one item. */
  cursors: Record<ListName, string>;
  /** Everything only this tenant's things hold: found in an answer to the other tenant, it leaked. */
  secrets: string[];
}

let world: Record<Owner, TenantWorld>;
const A = () => world.A;
const B = () => world.B;
const operator = () => platform().operatorKey;

// ---------------------------------------------------------------------------------------------
// Set-up: two tenants with one of everything, through the API as a tenant admin would

async function expectStatus(path: string, status: number, options: ApiOptions): Promise<ApiResponse> {
  const res = await api(path, options);
  if (res.status !== status) {
    throw new Error(`set-up: ${options.method ?? 'GET'} ${path} answered ${res.status}: ${res.text}`);
  }
  return res;
}

/** Meta's numeric ids: 15 digits, never starting with 0. */
const metaId = () =>
  String(1 + Math.floor(Math.random() * 9)) +
  Array.from({ length: 14 }, () => Math.floor(Math.random() * 10)).join('');

async function createTenant(owner: Owner): Promise<TenantWorld> {
  const secrets: string[] = [];
  /** A text unique to this tenant and run, remembered as one of its secrets. */
  const mark = (what: string) => {
    const text = `${owner === 'A' ? 'alpha' : 'bravo'}-${what}-${RUN}`;
    secrets.push(text);
    return text;
  };
  const created = await expectStatus('/admin/tenants', 201, {
    method: 'POST',
    key: operator(),
    body: { name: mark('tenant'), plan: PLAN },
  });
  const first = { apiKey: created.json.apiKey as string, keyId: created.json.key.id as string };
  const key = first.apiKey;
  const made = await expectStatus('/admin/keys', 201, { method: 'POST', key, body: { name: mark('key') } });
  const second = { apiKey: made.json.apiKey as string, keyId: made.json.key.id as string };
  const origin = `https://${mark('site')}.example.com`;

  const newBot = async (variant: Variant) => {
    const res = await expectStatus('/admin/bots', 201, {
      method: 'POST',
      key,
      body: {
        name: mark(`${variant}-bot`),
        description: mark(`${variant}-description`),
        persona: mark(`${variant}-persona`),
        systemPrompt: mark(`${variant}-prompt`),
        greeting: mark(`${variant}-greeting`),
        fallbackMessage: mark(`${variant}-fallback`),
        branding: { title: mark(`${variant}-title`) },
        rateLimits: RATE_LIMITS,
        ...(variant === 'public' && { visibility: 'public', allowedOrigins: [origin] }),
      },
    });
    return res.json.bot.id as string;
  };
  const bots = { private: await newBot('private'), public: await newBot('public') };

  const credentials: Credentials = {
    whatsapp: {
      phoneNumberId: metaId(),
      accessToken: `EAAG${mark('wa-token')}`,
      appSecret: mark('wa-app-secret'),
      verifyToken: mark('wa-verify'),
    },
    messenger: {
      pageId: metaId(),
      pageAccessToken: `EAAG${mark('fb-token')}`,
      appSecret: mark('fb-app-secret'),
      verifyToken: mark('fb-verify'),
    },
  };
  for (const variant of VARIANTS) {
    const channel = CHANNEL_OF[variant];
    await expectStatus(`/admin/bots/${bots[variant]}/channels/${channel}`, 200, {
      method: 'PUT',
      key,
      body: credentials[channel],
    });
  }

  // Small text files: ready within a second or two once the embedder is warm.
  const upload = async (variant: Variant, n: number) => {
    const subject = owner === 'A' ? 'teapots' : 'kettles';
    const text = `Refunds for ${subject} take ${owner === 'A' ? 42 : 7} days. Reference ${mark(`doc-${n}`)}.`;
    const document = await uploadDocument(key, bots[variant], {
      filename: `${mark(`handbook-${n}`)}.txt`,
      contentType: 'text/plain',
      bytes: Buffer.from(text),
    });
    return document.id;
  };
  const documents = {
    private: await Promise.all([upload('private', 1), upload('private', 2)]),
    public: [await upload('public', 3)],
  };
  for (const variant of VARIANTS) {
    for (const documentId of documents[variant]) {
      const done = await waitForDocument(key, bots[variant], documentId, 60_000);
      if (done.status !== 'ready') throw new Error(`set-up: document ${documentId} ${done.status}`);
    }
  }

  const turn = async (botId: string, options: ApiOptions, n: number) => {
    const res = await expectStatus(`/chat/${botId}`, 200, {
      ...options,
      method: 'POST',
      body: { message: `${mark(`question-${n}`)} ${QUESTION}` },
    });
    return res.json.sessionId as string;
  };
  const sessions = {
    private: [await turn(bots.private, { key }, 1), await turn(bots.private, { key }, 2)],
    public: [await turn(bots.public, { headers: { origin } }, 3)],
  };

  const question = async (variant: Variant, n: number) => {
    const res = await expectStatus(`/admin/bots/${bots[variant]}/test-questions`, 201, {
      method: 'POST',
      key,
      body: {
        question: `${mark(`test-question-${n}`)} ${QUESTION}`,
        expectedDocumentId: documents[variant][0],
      },
    });
    return res.json.question.id as string;
  };
  const questions = {
    private: [await question('private', 1), await question('private', 2)],
    public: [await question('public', 3)],
  };
  /** A run, waited for: its bot may run one at a time, and a finished run reads the same before and after. */
  const evaluation = async (variant: Variant) => {
    const path = `/admin/bots/${bots[variant]}/evaluations`;
    const id = (await expectStatus(path, 202, { method: 'POST', key })).json.evaluation.id as string;
    for (let waited = 0; ; waited += 100) {
      const run = await expectStatus(`${path}/${id}`, 200, { key });
      if (run.json.evaluation.status === 'done') return id;
      if (run.json.evaluation.status !== 'running' || waited > 30_000)
        throw new Error(`set-up: evaluation ${id} ${run.json.evaluation.status}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const evaluations = {
    private: [await evaluation('private'), await evaluation('private')],
    public: [await evaluation('public')],
  };

  const cursorOf = async (path: string) => {
    const res = await expectStatus(`${path}?limit=1`, 200, { key });
    if (typeof res.json.nextCursor !== 'string') throw new Error(`set-up: ${path} has one page only`);
    return res.json.nextCursor as string;
  };
  const cursors = {
    keys: await cursorOf('/admin/keys'),
    bots: await cursorOf('/admin/bots'),
    documents: await cursorOf(`/admin/bots/${bots.private}/documents`),
    sessions: await cursorOf(`/admin/bots/${bots.private}/sessions`),
    questions: await cursorOf(`/admin/bots/${bots.private}/test-questions`),
    evaluations: await cursorOf(`/admin/bots/${bots.private}/evaluations`),
  };

  secrets.push(
    created.json.tenant.id,
    ...[first, second].flatMap((k) => [k.apiKey, k.apiKey.slice(-43), k.keyId]),
    ...Object.values(bots),
    ...Object.values(documents).flat(),
    ...Object.values(sessions).flat(),
    ...Object.values(questions).flat(),
    ...Object.values(evaluations).flat(),
    ...Object.values(credentials.whatsapp),
    ...Object.values(credentials.messenger),
  );
  return {
    owner,
    tenantId: created.json.tenant.id,
    keys: [first, second],
    origin,
    bots,
    credentials,
    documents,
    sessions,
    questions,
    evaluations,
    cursors,
    secrets,
  };
}

/** A's id (or B's) for a slot: the variant picks the bot, and the document and session on it. */
function idOf(tenant: TenantWorld, slot: IdSlot, variant: Variant): string {
  const value = {
    tenantId: tenant.tenantId,
    keyId: tenant.keys[variant === 'private' ? 0 : 1].keyId,
    botId: tenant.bots[variant],
    documentId: tenant.documents[variant][0],
    sessionId: tenant.sessions[variant][0],
    questionId: tenant.questions[variant][0],
    evaluationId: tenant.evaluations[variant][0],
  }[slot];
  if (value === undefined) throw new Error(`no ${slot} for ${tenant.owner}'s ${variant} bot`);
  return value;
}

/** An id of the right shape that nobody has: the twin of one of A's. */
const unknownId = (slot: IdSlot): string =>
  slot === 'keyId'
    ? newId('tnt').slice(4, 20)
    : slot === 'questionId' || slot === 'evaluationId'
      ? newTimeOrderedId(slot === 'questionId' ? 'tqn' : 'evl', new Date())
      : newId(({ tenantId: 'tnt', botId: 'bot', documentId: 'doc', sessionId: 'ses' } as const)[slot]);

/** A delivery for the target's connected account, signed with the signer's app secret. */
function delivery(target: TenantWorld, signer: TenantWorld, channel: MetaChannel) {
  const id = newId('msg');
  const payload =
    channel === 'whatsapp'
      ? whatsappText({
          phoneNumberId: target.credentials.whatsapp.phoneNumberId,
          from: '15550001234',
          id: `wamid.${id}`,
          text: 'Hello from B',
        })
      : messengerText({
          pageId: target.credentials.messenger.pageId,
          senderId: '2900000000000001',
          mid: `m_${id}`,
          text: 'Hello from B',
        });
  const body = JSON.stringify(payload);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-hub-signature-256': metaSignature(body, signer.credentials[channel].appSecret),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The plan: per route, a valid request and who among B's callers tries it

/** How a route is guarded, which decides what B's attempts must answer. */
type Family =
  /** Anyone: health and the OpenAPI document. */
  | 'open'
  /** The operator key only: a tenant key is 401. */
  | 'operator'
  /** A tenant key: another tenant's ids are 404. */
  | 'tenant'
  /** A tenant key, or a visitor of a public bot's allowed site. */
  | 'chat'
  /** Browsers' CORS preflights: 204 always, with CORS headers only for the bot's own sites. */
  | 'preflight'
  /** The platforms, which prove themselves with the channel's secret. */
  | 'webhook';

interface Held {
  /** `nobody`: an unknown id, in the twin of an attempt. */
  owner: Owner | 'nobody';
  value: string;
}

interface Caller {
  name: string;
  /** An anonymous browser on B's site (chat), not a key. */
  visitor: boolean;
  headers: () => Record<string, string>;
}

interface Call {
  caller: Caller;
  variant: Variant;
  channel: MetaChannel;
  ids: Partial<Record<IdSlot, Held>>;
}

interface RoutePlan {
  family: Family;
  /** An id taken outside the path, and optional: the chat turn's session, the usage report's bot. */
  extra?: { slot: IdSlot; in: 'body' | 'query' };
  body?: (call: Call) => unknown;
  query?: (call: Call) => Record<string, string>;
  /** A raw, signed body (webhooks). */
  raw?: (call: Call) => { body: string; headers: Record<string, string> };
  /** What B's own call answers when it names no id of anyone's (lists, creates). */
  own?: { status: number; code?: string };
  /**
   * What B's own call on its own ids answers (reads only): checked for A's data too, which is
   * where a shared index or cache would leak (search, chat turns).
   */
  ownIds?: number | ((call: Call) => number);
  /** Further checks of B's own call's answer. */
  ownCheck?: (res: ApiResponse) => string | undefined;
  /** The list whose cursor, taken from A's list, is tried on B's. */
  cursor?: ListName;
}

const chatTurnBody = () => ({ message: QUESTION });

/** Passages retrieved for B come from B's documents, and some do: an empty answer would prove nothing. */
function onlyBsDocuments(found: readonly { documentId: string }[] | undefined): string | undefined {
  const ours = Object.values(B().documents).flat();
  if (!found || found.length === 0) return "nothing of B's was retrieved";
  const strangers = found.filter((item) => !ours.includes(item.documentId));
  return strangers.length > 0
    ? `retrieved documents not B's: ${strangers.map((s) => s.documentId)}`
    : undefined;
}

const sseData = (text: string, event: string) => {
  const data = new RegExp(`^event: ${event}\ndata: (.*)$`, 'm').exec(text)?.[1];
  return data === undefined ? undefined : JSON.parse(data);
};

const plans: Readonly<Record<string, RoutePlan>> = {
  'GET /health': { family: 'open', own: { status: 200 } },
  'GET /openapi.json': { family: 'open', own: { status: 200 } },
  'POST /admin/tenants': {
    family: 'operator',
    body: () => ({ name: 'Made by B' }),
    own: { status: 401, code: 'unauthorized' },
  },
  'GET /admin/tenants': { family: 'operator', own: { status: 401, code: 'unauthorized' } },
  'GET /admin/tenants/{tenantId}': { family: 'operator' },
  'PATCH /admin/tenants/{tenantId}': {
    family: 'operator',
    body: () => ({ name: 'Renamed by B', plan: { maxDocuments: 1 } }),
  },
  'DELETE /admin/tenants/{tenantId}': { family: 'operator' },
  'POST /admin/keys': { family: 'tenant', body: () => ({ name: 'made by B' }), own: { status: 201 } },
  'GET /admin/keys': {
    family: 'tenant',
    query: () => ({ limit: '100' }),
    own: { status: 200 },
    cursor: 'keys',
  },
  'DELETE /admin/keys/{keyId}': { family: 'tenant' },
  'POST /admin/bots': {
    family: 'tenant',
    body: () => ({ name: 'Made by B', rateLimits: RATE_LIMITS }),
    own: { status: 201 },
  },
  'GET /admin/bots': {
    family: 'tenant',
    query: () => ({ limit: '100' }),
    own: { status: 200 },
    cursor: 'bots',
  },
  'GET /admin/bots/{botId}': { family: 'tenant', ownIds: 200 },
  'PATCH /admin/bots/{botId}': {
    family: 'tenant',
    body: () => ({ name: 'Renamed by B', persona: 'B was here', allowedOrigins: [B().origin] }),
  },
  'DELETE /admin/bots/{botId}': { family: 'tenant' },
  'GET /admin/bots/{botId}/channels': { family: 'tenant', ownIds: 200 },
  'PUT /admin/bots/{botId}/channels/{channel}': {
    family: 'tenant',
    body: (call) => B().credentials[call.channel],
  },
  'GET /admin/bots/{botId}/channels/{channel}': { family: 'tenant', ownIds: 200 },
  'DELETE /admin/bots/{botId}/channels/{channel}': { family: 'tenant' },
  'POST /admin/bots/{botId}/documents': {
    family: 'tenant',
    body: () => ({ filename: 'from-b.txt', contentType: 'text/plain', size: 100 }),
  },
  'GET /admin/bots/{botId}/documents': {
    family: 'tenant',
    query: () => ({ limit: '100' }),
    cursor: 'documents',
    ownIds: 200,
  },
  'GET /admin/bots/{botId}/documents/{documentId}': { family: 'tenant', ownIds: 200 },
  'DELETE /admin/bots/{botId}/documents/{documentId}': { family: 'tenant' },
  'POST /admin/bots/{botId}/search': {
    family: 'tenant',
    body: () => ({ query: QUESTION, topK: 10 }),
    ownIds: 200,
    ownCheck: (res) => onlyBsDocuments(res.json?.results),
  },
  'GET /admin/usage': {
    family: 'tenant',
    extra: { slot: 'botId', in: 'query' },
    query: () => USAGE_RANGE,
    own: { status: 200 },
    ownIds: 200,
  },
  'GET /admin/bots/{botId}/sessions': {
    family: 'tenant',
    query: () => ({ limit: '100' }),
    cursor: 'sessions',
    ownIds: 200,
  },
  'GET /admin/bots/{botId}/sessions/{sessionId}': { family: 'tenant', ownIds: 200 },
  // Bodies name B's own document for the bot's variant: what answers is the bot's and the question's owner.
  'POST /admin/bots/{botId}/test-questions': {
    family: 'tenant',
    body: (call) => ({ question: 'Asked by B?', expectedDocumentId: B().documents[call.variant][0] }),
  },
  'GET /admin/bots/{botId}/test-questions': {
    family: 'tenant',
    query: () => ({ limit: '100' }),
    cursor: 'questions',
    ownIds: 200,
  },
  'PUT /admin/bots/{botId}/test-questions/{questionId}': {
    family: 'tenant',
    body: (call) => ({ question: 'Rewritten by B?', expectedDocumentId: B().documents[call.variant][0] }),
  },
  'DELETE /admin/bots/{botId}/test-questions/{questionId}': { family: 'tenant' },
  'POST /admin/bots/{botId}/evaluations': { family: 'tenant' },
  'GET /admin/bots/{botId}/evaluations': {
    family: 'tenant',
    query: () => ({ limit: '100' }),
    cursor: 'evaluations',
    ownIds: 200,
  },
  'GET /admin/bots/{botId}/evaluations/{evaluationId}': { family: 'tenant', ownIds: 200 },
  // A key reads a public bot's page only: its own private bot is 404 there.
  'GET /chat/{botId}': { family: 'chat', ownIds: (call) => (call.variant === 'public' ? 200 : 404) },
  'POST /chat/{botId}': {
    family: 'chat',
    extra: { slot: 'sessionId', in: 'body' },
    body: chatTurnBody,
    ownIds: 200,
    ownCheck: (res) => onlyBsDocuments(res.json?.citations),
  },
  'OPTIONS /chat/{botId}': { family: 'preflight' },
  'POST /chat/{botId}/stream': {
    family: 'chat',
    extra: { slot: 'sessionId', in: 'body' },
    body: chatTurnBody,
    ownIds: 200,
    ownCheck: (res) => onlyBsDocuments(sseData(res.text, 'citations')?.citations),
  },
  'OPTIONS /chat/{botId}/stream': { family: 'preflight' },
  'DELETE /chat/{botId}/sessions/{sessionId}': { family: 'chat' },
  'OPTIONS /chat/{botId}/sessions/{sessionId}': { family: 'preflight' },
  'GET /webhooks/{channel}/{botId}': {
    family: 'webhook',
    query: (call) => ({
      'hub.mode': 'subscribe',
      'hub.verify_token': B().credentials[call.channel].verifyToken,
      'hub.challenge': CHALLENGE,
    }),
  },
  'POST /webhooks/{channel}/{botId}': {
    family: 'webhook',
    raw: (call) => {
      const bot = call.ids.botId;
      // Aimed at the bot's own account, so only the signature stands between it and the queue.
      return delivery(bot?.owner === 'B' ? B() : A(), B(), call.channel);
    },
  },
};

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const CALLERS = {
  key: { name: "B's key", visitor: false, headers: () => bearer(B().keys[0].apiKey) },
  secondKey: { name: "B's second key", visitor: false, headers: () => bearer(B().keys[1].apiKey) },
  keyOnSite: {
    name: "B's key from B's site",
    visitor: false,
    headers: () => ({ ...bearer(B().keys[0].apiKey), origin: B().origin }),
  },
  visitor: { name: "a visitor of B's site", visitor: true, headers: () => ({ origin: B().origin }) },
  channelApp: { name: "B's channel app", visitor: false, headers: () => ({}) },
  /** B's key secret presented under A's key id. */
  forged: {
    name: "B's secret on A's key id",
    visitor: false,
    headers: () => bearer(`pk_${A().keys[0].keyId}_${B().keys[0].apiKey.slice(-43)}`),
  },
} satisfies Record<string, Caller>;

const callersOf: Record<Family, readonly Caller[]> = {
  open: [CALLERS.key],
  operator: [CALLERS.key, CALLERS.secondKey],
  tenant: [CALLERS.key, CALLERS.secondKey],
  chat: [CALLERS.key, CALLERS.secondKey, CALLERS.visitor],
  preflight: [CALLERS.keyOnSite, CALLERS.visitor],
  webhook: [CALLERS.channelApp],
};

// ---------------------------------------------------------------------------------------------
// Attempts: requests, what they must answer, and their twins with unknown ids

interface PlannedRequest {
  method: string;
  path: string;
  options: ApiOptions;
}

interface Expectation {
  status: number;
  code?: string;
  /** Answers as its twin does (the same call with unknown ids in place of A's): status, code, message. */
  likeUnknown: boolean;
  /** Further checks of the answer; returns what is wrong. */
  check?: (res: ApiResponse) => Promise<string | undefined> | string | undefined;
}

interface Attempt {
  route: string;
  label: string;
  request: PlannedRequest;
  twin?: PlannedRequest;
  expected: Expectation;
}

const pathParamsOf = (route: RouteDefinition) =>
  [...route.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1] ?? '');

function requestOf(route: RouteDefinition, plan: RoutePlan, call: Call): PlannedRequest {
  const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) =>
    name === 'channel' ? call.channel : (call.ids[name as IdSlot]?.value ?? ''),
  );
  const query: Record<string, string> = { ...plan.query?.(call) };
  let body = plan.body?.(call);
  const extra = plan.extra && call.ids[plan.extra.slot];
  if (plan.extra && extra) {
    if (plan.extra.in === 'query') query[plan.extra.slot] = extra.value;
    else body = { ...(body as object), [plan.extra.slot]: extra.value };
  }
  const search = new URLSearchParams(query).toString();
  const raw = plan.raw?.(call);
  return {
    method: route.method,
    path: `${path}${search ? `?${search}` : ''}`,
    options: {
      method: route.method,
      headers: { ...call.caller.headers(), ...raw?.headers },
      ...(raw ? { rawBody: raw.body } : body === undefined ? {} : { body }),
    },
  };
}

const headerOf = (res: ApiResponse, name: string) => res.headers[name];

/** A chat turn on B's bot that named A's session: a new session of B's, holding this turn alone. */
async function opensNewSession(res: ApiResponse, call: Call, stream: boolean): Promise<string | undefined> {
  let sessionId: unknown = res.json?.sessionId;
  if (stream) {
    sessionId = sseData(res.text, 'session')?.sessionId;
    if (!/^event: done$/m.test(res.text)) return 'the stream did not end with done';
  }
  if (typeof sessionId !== 'string') return 'no session id in the answer';
  if (Object.values(A().sessions).flat().includes(sessionId)) return `it continued A's session ${sessionId}`;
  const view = await api(`/admin/bots/${call.ids.botId?.value}/sessions/${sessionId}`, {
    key: B().keys[0].apiKey,
  });
  if (view.status !== 200) return `the new session ${sessionId} is not B's (${view.status})`;
  const leaked = leaksIn(view.text);
  if (leaked.length > 0) return `B's new session shows A's ${leaked.join(', ')}`;
  if (view.json.messages.length !== 2)
    return `B's new session holds ${view.json.messages.length} messages, not 2`;
  return undefined;
}

const NOT_FOUND: Expectation = { status: 404, code: 'not_found', likeUnknown: true };

function expectationOf(route: RouteDefinition, plan: RoutePlan, call: Call): Expectation {
  const anyOfA = Object.values(call.ids).some((held) => held.owner === 'A');
  if (!anyOfA) {
    // B's own ids: a visitor still needs a public bot.
    if (call.caller.visitor && call.variant === 'private')
      return { status: 401, code: 'unauthorized', likeUnknown: false };
    const status = typeof plan.ownIds === 'function' ? plan.ownIds(call) : (plan.ownIds ?? 200);
    return { status, likeUnknown: false, check: plan.ownCheck };
  }
  switch (plan.family) {
    case 'open':
      return { status: 200, likeUnknown: true };
    case 'operator':
      return { status: 401, code: 'unauthorized', likeUnknown: true };
    case 'tenant':
      return NOT_FOUND;
    case 'preflight':
      // B's site is one of B's public bot's: CORS there is right (a preflight names no session).
      return {
        status: 204,
        likeUnknown: true,
        check: (res) =>
          call.ids.botId?.owner !== 'A' || headerOf(res, 'access-control-allow-origin') === undefined
            ? undefined
            : `CORS allowed for ${headerOf(res, 'access-control-allow-origin')} on A's bot`,
      };
    case 'webhook':
      // A webhook URL is public (the platform is given it): its bot's existence is no secret.
      return {
        status: 401,
        code: 'unauthorized',
        likeUnknown: false,
        check: (res) => (res.text.includes(CHALLENGE) ? 'the challenge was echoed' : undefined),
      };
    case 'chat': {
      const bot = call.ids.botId;
      // Without a key a private bot is 401, an unknown one 404 (resolveBot documents it).
      if (call.caller.visitor && call.variant === 'private')
        return { status: 401, code: 'unauthorized', likeUnknown: bot?.owner !== 'A' };
      if (bot?.owner === 'A') return NOT_FOUND;
      if (route.method === 'POST') {
        return {
          status: 200,
          likeUnknown: true,
          check: (res) => opensNewSession(res, call, route.path.endsWith('/stream')),
        };
      }
      return NOT_FOUND;
    }
  }
}

/**
 * Every combination of whose each id is, on either of a tenant's bots: at least one of A's, or
 * all of B's for the routes that read B's own things.
 */
function callsWithIds(route: RouteDefinition, plan: RoutePlan): Call[] {
  const params = pathParamsOf(route).filter((name) => name !== 'channel');
  for (const name of params) {
    if (!ID_SLOTS.includes(name)) throw new Error(`${routeKey(route)}: the sweep knows no id {${name}}`);
  }
  const slots = [...params, ...(plan.extra ? [plan.extra.slot] : [])] as IdSlot[];
  if (slots.length === 0) return [];
  const calls: Call[] = [];
  const seen = new Set<string>();
  for (const caller of callersOf[plan.family]) {
    for (const variant of VARIANTS) {
      // Each slot A's or B's; the optional extra one also left out.
      const choices = slots.map((slot): (Owner | undefined)[] =>
        plan.extra?.slot === slot ? ['A', 'B', undefined] : ['A', 'B'],
      );
      const combos = choices.reduce<(Owner | undefined)[][]>(
        (acc, options) => acc.flatMap((prefix) => options.map((option) => [...prefix, option])),
        [[]],
      );
      for (const owners of combos) {
        const ofB = !owners.includes('A');
        if (ofB && (plan.ownIds === undefined || owners.every((owner) => owner === undefined))) continue;
        const ids: Partial<Record<IdSlot, Held>> = {};
        slots.forEach((slot, i) => {
          const owner = owners[i];
          if (owner) ids[slot] = { owner, value: idOf(world[owner], slot, variant) };
        });
        const call = { caller, variant, channel: CHANNEL_OF[variant], ids };
        // The tenant and key ids do not change with the variant: one attempt each.
        const signature = `${caller.name} ${JSON.stringify(ids)} ${call.channel}`;
        if (seen.has(signature)) continue;
        seen.add(signature);
        calls.push(call);
      }
    }
  }
  return calls;
}

const describeCall = (call: Call) =>
  `as ${call.caller.name}, ${
    Object.entries(call.ids)
      .map(([slot, held]) => `${slot}=${held.owner}'s`)
      .join(' ') || 'no ids'
  } (${call.variant} bot)`;

/** The attempts of one route; throws, naming it, when the route has no plan. */
function attemptsOf(route: RouteDefinition): Attempt[] {
  const key = routeKey(route);
  const plan = plans[key];
  if (!plan) throw new Error(`No isolation plan for ${key}: add one to plans in isolation.test.ts`);
  const attempts: Attempt[] = [];
  for (const call of callsWithIds(route, plan)) {
    const twinIds: Call['ids'] = Object.fromEntries(
      Object.entries(call.ids).map(([slot, held]): [string, Held] => [
        slot,
        held.owner === 'A' ? { owner: 'nobody', value: unknownId(slot as IdSlot) } : held,
      ]),
    );
    const anyOfA = Object.values(call.ids).some((held) => held.owner === 'A');
    attempts.push({
      route: key,
      label: `${key} ${describeCall(call)}`,
      request: requestOf(route, plan, call),
      ...(anyOfA && { twin: requestOf(route, plan, { ...call, ids: twinIds }) }),
      expected: expectationOf(route, plan, call),
    });
  }
  if (plan.own && pathParamsOf(route).length === 0) {
    const call: Call = { caller: CALLERS.key, variant: 'private', channel: 'whatsapp', ids: {} };
    const own = { status: plan.own.status, code: plan.own.code, likeUnknown: false };
    const owners = plan.family === 'open' ? [CALLERS.key] : [CALLERS.key, CALLERS.secondKey];
    for (const caller of owners) {
      attempts.push({
        route: key,
        label: `${key} ${describeCall({ ...call, caller })}`,
        request: requestOf(route, plan, { ...call, caller }),
        expected: own,
      });
    }
    if (plan.family === 'tenant') {
      attempts.push({
        route: key,
        label: `${key} ${describeCall({ ...call, caller: CALLERS.forged })}`,
        request: requestOf(route, plan, { ...call, caller: CALLERS.forged }),
        expected: { status: 401, code: 'unauthorized', likeUnknown: false },
      });
    }
  }
  if (plan.cursor) {
    // B's own list (its private bot's, for a bot's lists), continued from A's cursor.
    const call: Call = {
      caller: CALLERS.key,
      variant: 'private',
      channel: 'whatsapp',
      ids: { botId: { owner: 'B', value: B().bots.private } },
    };
    const request = requestOf(route, plan, call);
    const cursor = new URLSearchParams({ limit: '1', cursor: A().cursors[plan.cursor] }).toString();
    attempts.push({
      route: key,
      label: `${key} as B's key, with A's cursor`,
      request: { ...request, path: `${request.path.split('?')[0]}?${cursor}` },
      expected: { status: 400, code: 'bad_request', likeUnknown: false },
    });
  }
  return attempts;
}

// ---------------------------------------------------------------------------------------------
// Running and judging

/** A's secrets found in an answer. */
const leaksIn = (text: string) => A().secrets.filter((secret) => text.includes(secret));

const clip = (text: string, max = 300) => (text.length > max ? `${text.slice(0, max)}…` : text);

const tally = routeTally(['attempts', 'twins'] as const);
const problems: string[] = [];

const send = (request: PlannedRequest) => api(request.path, request.options);
const errorOf = (res: ApiResponse) => res.json?.error as { code?: string; message?: string } | undefined;

/** Sends the attempt (and its twin) and records what is wrong with the answers. */
async function judge(attempt: Attempt): Promise<void> {
  const { expected } = attempt;
  const res = await send(attempt.request);
  tally.count(attempt.route, 'attempts', res.status);
  const wrong: string[] = [];
  if (res.status >= 500) wrong.push(`a ${res.status}`);
  if (res.status !== expected.status) wrong.push(`status ${res.status}, not ${expected.status}`);
  if (expected.code !== undefined && errorOf(res)?.code !== expected.code)
    wrong.push(`code ${errorOf(res)?.code}, not ${expected.code}`);
  const leaked = leaksIn(`${JSON.stringify(res.headers)}\n${res.text}`);
  if (leaked.length > 0) wrong.push(`the answer holds A's ${leaked.join(', ')}`);
  if (wrong.length === 0 && expected.check) {
    const problem = await expected.check(res);
    if (problem) wrong.push(problem);
  }
  if (attempt.twin) {
    const twin = await send(attempt.twin);
    tally.count(attempt.route, 'twins');
    const twinLeaked = leaksIn(`${JSON.stringify(twin.headers)}\n${twin.text}`);
    if (twinLeaked.length > 0) wrong.push(`the unknown-id twin's answer holds A's ${twinLeaked.join(', ')}`);
    const shape = (r: ApiResponse) =>
      JSON.stringify([
        r.status,
        errorOf(r)?.code,
        errorOf(r)?.message,
        r.headers['access-control-allow-origin'],
      ]);
    if (expected.likeUnknown && shape(res) !== shape(twin))
      wrong.push(`answers ${shape(res)} where unknown ids answer ${shape(twin)}`);
  }
  if (wrong.length > 0) {
    problems.push(
      `${attempt.label}: ${wrong.join('; ')}\n    ${attempt.request.method} ${attempt.request.path} → ${res.status} ${clip(res.text)}`,
    );
  }
}

async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// ---------------------------------------------------------------------------------------------
// What A can read, before and after

/** Every read A has of its own things; `lastUsedAt` is left out (each read stamps it). */
async function readableBy(t: TenantWorld): Promise<Record<string, unknown>> {
  const key = t.keys[0].apiKey;
  const read = async (path: string, options: ApiOptions = { key }) => {
    const res = await api(path, options);
    return { status: res.status, body: res.json ?? res.text };
  };
  const keys = await read('/admin/keys?limit=100', { key: t.keys[1].apiKey });
  const view: Record<string, unknown> = {
    tenant: await read(`/admin/tenants/${t.tenantId}`, { key: operator() }),
    bots: await read('/admin/bots?limit=100'),
    keys: JSON.parse(JSON.stringify(keys), (name, value) => (name === 'lastUsedAt' ? undefined : value)),
    usage: await read(`/admin/usage?${new URLSearchParams(USAGE_RANGE)}`),
  };
  for (const variant of VARIANTS) {
    const botId = t.bots[variant];
    const channel = CHANNEL_OF[variant];
    const documents = await read(`/admin/bots/${botId}/documents?limit=100`);
    const sessions = await read(`/admin/bots/${botId}/sessions?limit=100`);
    Object.assign(view, {
      [`${variant} bot`]: await read(`/admin/bots/${botId}`),
      [`${variant} channels`]: await read(`/admin/bots/${botId}/channels`),
      [`${variant} ${channel}`]: await read(`/admin/bots/${botId}/channels/${channel}`),
      // The verify token still answers: the credentials are still A's.
      [`${variant} handshake`]: await read(
        `/webhooks/${channel}/${botId}?${new URLSearchParams({
          'hub.mode': 'subscribe',
          'hub.verify_token': t.credentials[channel].verifyToken,
          'hub.challenge': 'still-mine',
        })}`,
        {},
      ),
      [`${variant} documents`]: documents,
      [`${variant} sessions`]: sessions,
      [`${variant} search`]: await read(`/admin/bots/${botId}/search`, {
        method: 'POST',
        key,
        body: { query: QUESTION, topK: 10 },
      }),
    });
    for (const documentId of t.documents[variant])
      view[`document ${documentId}`] = await read(`/admin/bots/${botId}/documents/${documentId}`);
    for (const sessionId of t.sessions[variant])
      view[`session ${sessionId}`] = await read(`/admin/bots/${botId}/sessions/${sessionId}`);
    view[`${variant} test questions`] = await read(`/admin/bots/${botId}/test-questions?limit=100`);
    view[`${variant} evaluations`] = await read(`/admin/bots/${botId}/evaluations?limit=100`);
    for (const evaluationId of t.evaluations[variant])
      view[`evaluation ${evaluationId}`] = await read(`/admin/bots/${botId}/evaluations/${evaluationId}`);
  }
  view['public page'] = await read(`/chat/${t.bots.public}`, { headers: { origin: t.origin } });
  return view;
}

function report(): string {
  return [
    `Tenant isolation: ${routes.length} routes, ${tally.total('attempts')} attempts by B (on A's ids, mixed ids, ` +
      `or its own, checked for A's data), and ${tally.total('twins')} twins with unknown ids in place of A's:`,
    tally.table(),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------

describe("tenant isolation: B reaches nothing of A's through any route", () => {
  let before: Record<string, unknown>;

  beforeAll(async () => {
    const [a, b] = await Promise.all([createTenant('A'), createTenant('B')]);
    world = { A: a, B: b };
    before = await readableBy(a);
  }, 90_000);

  afterAll(() => {
    if (!tally.empty) console.log(report());
  });

  it('has a plan for every route in the route table, and none for a route that is gone', () => {
    const keys = routes.map((route) => routeKey(route));
    expect(keys.filter((key) => !plans[key])).toEqual([]);
    expect(Object.keys(plans).filter((key) => !keys.includes(key))).toEqual([]);
  });

  it("looks for what answers really hold: A's own reads show every secret of A's but the write-only", () => {
    // Keys and channel credentials are never shown again (but the account's id, masked views aside).
    const { whatsapp, messenger } = A().credentials;
    const writeOnly = [
      ...A().keys.flatMap(({ apiKey }) => [apiKey, apiKey.slice(-43)]),
      whatsapp.accessToken,
      whatsapp.appSecret,
      whatsapp.verifyToken,
      messenger.pageAccessToken,
      messenger.appSecret,
      messenger.verifyToken,
    ];
    const shown = JSON.stringify(before);
    const unseen = A().secrets.filter((secret) => !shown.includes(secret));
    expect(unseen.filter((secret) => !writeOnly.some((hidden) => hidden.includes(secret)))).toEqual([]);
  });

  it("refuses deliveries to A's bots signed with B's channel secrets, which B's own bots take", async () => {
    // The control: the very deliveries the sweep sends A's bots are signed well enough for B's.
    for (const variant of VARIANTS) {
      const channel = CHANNEL_OF[variant];
      const { body, headers } = delivery(A(), B(), channel);
      const res = await api(`/webhooks/${channel}/${B().bots[variant]}`, {
        method: 'POST',
        rawBody: body,
        headers,
      });
      // Addressed to A's account, so B's bot takes it and queues nothing: another account's.
      expect([channel, res.status, res.json]).toEqual([channel, 200, { queued: 0, foreign: 1 }]);
    }
  });

  it("answers every route's attempts with A's ids as it answers unknown ids, and shows nothing of A's", async () => {
    const attempts = routes.flatMap((route) => attemptsOf(route));
    await inParallel(attempts, CONCURRENCY, judge);
    expect(problems).toEqual([]);
    // Nothing of B's deliveries was taken in for A's bots: the reply worker takes every message
    // queued into its bot's reply ledger first (the queue itself is shared with the other suites'
    // runs), so once the queue is empty each one would show there.
    await waitFor(async () => (await queueBacklog(platform().dataDir, 'REPLY_QUEUE_URL')) === 0, {
      timeoutMs: 60_000,
      what: 'the reply queue emptied',
    });
    const db = documentClientAt(platform().dataDir);
    try {
      for (const botId of Object.values(A().bots)) {
        const { Items } = await db.send(
          new QueryCommand({
            TableName: platform().env.USAGE_TABLE,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': `REPLY#${A().tenantId}#${botId}` },
            ConsistentRead: true,
          }),
        );
        expect([botId, Items ?? []]).toEqual([botId, []]);
      }
    } finally {
      db.destroy();
    }
  }, 120_000);

  it("leaves everything A can read as it was, and A's keys working", async () => {
    for (const { apiKey } of A().keys) expect((await api('/admin/bots', { key: apiKey })).status).toBe(200);
    expect(await readableBy(A())).toEqual(before);
  }, 30_000);
});
