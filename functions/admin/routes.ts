import * as z from 'zod';
import { ApiKeyCreateSchema, ApiKeySchema } from '../../shared/domain/api-key.ts';
import { BotCreateSchema, BotPatchSchema, BotSchema } from '../../shared/domain/bot.ts';
import { NotFoundError } from '../../shared/domain/errors.ts';
import { MessageSchema, SessionSchema, toSessionView } from '../../shared/domain/session.ts';
import { TenantCreateSchema, TenantPatchSchema, TenantSchema } from '../../shared/domain/tenant.ts';
import type { AuthDeps } from '../../shared/http/auth.ts';
import { PageQuerySchema, pageOf } from '../../shared/http/pagination.ts';
import { json, noContent } from '../../shared/http/response.ts';
import { defineRoute, type RouteTable, tenantOf } from '../../shared/http/router.ts';
import type { SessionRepository } from '../../shared/ports/repositories.ts';
import type { UsageRepository } from '../../shared/ports/usage.ts';
import { createApiKey, listApiKeys, revokeApiKey } from '../../shared/usecases/api-keys.ts';
import { createBot, listBots, updateBot } from '../../shared/usecases/bots.ts';
import { deleteBot, deleteTenant } from '../../shared/usecases/cascade.ts';
import type { CascadeDeps, RetrievalDeps, StartEvaluationDeps } from '../../shared/usecases/deps.ts';
import { checkHealth, type HealthCheck } from '../../shared/usecases/health.ts';
import { getBot, getTenant } from '../../shared/usecases/lookups.ts';
import { searchKnowledge } from '../../shared/usecases/search.ts';
import { createTenant, listTenants, updateTenant } from '../../shared/usecases/tenants.ts';
import type { UsageReadDeps } from '../../shared/usecases/usage.ts';
import { channelRoutes } from './channel-routes.ts';
import { evaluationRoutes } from './evaluation-routes.ts';
import { usageRoute } from './usage-route.ts';

export interface AdminDeps extends CascadeDeps, AuthDeps, UsageReadDeps, StartEvaluationDeps {
  testQuestions: StartEvaluationDeps['testQuestions'];
  evaluations: StartEvaluationDeps['evaluations'];
  /** Webhook URLs shown to admins start with it when set (a custom domain). */
  publicBaseUrl?: string;
  sessions: SessionRepository;
  usage: UsageRepository;
  retrieval: () => Promise<RetrievalDeps>;
  healthChecks: readonly HealthCheck[];
  openApi: () => unknown;
}

const SearchSchema = z
  .strictObject({
    query: z.string().trim().min(1).max(2000),
    topK: z.int().min(1).max(50).optional(),
    history: z
      .array(z.strictObject({ role: z.enum(['user', 'assistant']), content: z.string().max(8000) }))
      .max(40)
      .optional()
      .describe('Earlier turns, oldest first: the query is searched as a follow-up of them, as in a chat'),
  })
  .meta({ id: 'SearchRequest' });

const SearchResultsSchema = z
  .object({
    results: z.array(
      z.object({
        documentId: z.string(),
        filename: z.string(),
        page: z.int().optional(),
        heading: z.string().optional(),
        text: z.string(),
        score: z
          .number()
          .describe('The fused score (reciprocal rank fusion of the lists it came from), or the reranker’s'),
        ranks: z
          .object({ vector: z.int().optional(), keyword: z.int().optional(), rerank: z.int().optional() })
          .describe('Where it ranked in each list it came from (1 is best)'),
        similarity: z
          .number()
          .optional()
          .describe(
            'Cosine similarity with the query, the scale of the bot’s retrieval.minScore (vector candidates)',
          ),
      }),
    ),
  })
  .meta({ id: 'SearchResults' });

const HealthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    checks: z.record(
      z.string(),
      z.object({ ok: z.boolean(), latencyMs: z.number(), error: z.string().optional() }),
    ),
  })
  .meta({ id: 'Health' });

/** Messages one session view shows at most (a conversation's history beyond is not listed). */
const MAX_SESSION_MESSAGES = 500;

const deleted = { 204: { description: 'Deleted, with everything it owned' } };

/** The admin function's routes, keyed as in the shared route table. */
export function adminRoutes(deps: () => AdminDeps): RouteTable {
  return {
    ...platformRoutes(deps),
    ...tenantRoutes(deps),
    ...keyRoutes(deps),
    ...botRoutes(deps),
    'GET /admin/usage': usageRoute(deps),
    ...channelRoutes(deps),
    ...evaluationRoutes(deps),
    ...inspectionRoutes(deps),
  };
}

/** Health and the API's own description: no tenant involved. */
function platformRoutes(deps: () => AdminDeps): RouteTable {
  return {
    'GET /health': defineRoute({
      summary: 'Health of the platform and its dependencies',
      responses: {
        200: { description: 'Healthy', schema: HealthSchema },
        503: { description: 'Degraded', schema: HealthSchema },
      },
      run: async () => {
        const report = await checkHealth(deps().healthChecks);
        return json(report.status === 'ok' ? 200 : 503, report);
      },
    }),
    'GET /openapi.json': defineRoute({
      summary: 'This API, as OpenAPI 3.0',
      responses: { 200: { description: 'The OpenAPI document' } },
      run: async () => json(200, deps().openApi(), { 'cache-control': 'public, max-age=300' }),
    }),
  };
}

/** The operator's tenant management. */
function tenantRoutes(deps: () => AdminDeps): RouteTable {
  return {
    'POST /admin/tenants': defineRoute({
      summary: 'Create a tenant; returns its first admin key, shown only this once',
      body: TenantCreateSchema,
      responses: {
        201: {
          description: 'Created',
          schema: z.object({ tenant: TenantSchema, key: ApiKeySchema, apiKey: z.string() }),
        },
      },
      run: async ({ body }) => json(201, await createTenant(deps(), body)),
    }),
    'GET /admin/tenants': defineRoute({
      summary: 'List tenants',
      query: PageQuerySchema,
      responses: { 200: { description: 'A page of tenants', schema: pageOf(TenantSchema) } },
      run: async ({ query }) => json(200, await listTenants(deps(), query)),
    }),
    'GET /admin/tenants/{tenantId}': defineRoute({
      summary: 'Get a tenant',
      responses: { 200: { description: 'The tenant', schema: z.object({ tenant: TenantSchema }) } },
      run: async ({ params }) => json(200, { tenant: await getTenant(deps(), params.tenantId ?? '') }),
    }),
    'PATCH /admin/tenants/{tenantId}': defineRoute({
      summary: 'Rename a tenant or change its plan',
      body: TenantPatchSchema,
      responses: { 200: { description: 'Updated', schema: z.object({ tenant: TenantSchema }) } },
      run: async ({ params, body }) =>
        json(200, { tenant: await updateTenant(deps(), params.tenantId ?? '', body) }),
    }),
    'DELETE /admin/tenants/{tenantId}': defineRoute({
      summary: 'Delete a tenant and everything it owns',
      responses: deleted,
      run: async ({ params }) => {
        await deleteTenant(deps(), params.tenantId ?? '');
        return noContent();
      },
    }),
  };
}

/** A tenant's admin keys. */
function keyRoutes(deps: () => AdminDeps): RouteTable {
  return {
    'POST /admin/keys': defineRoute({
      summary: 'Create an admin key; the key is shown only this once',
      body: ApiKeyCreateSchema.optional(),
      responses: {
        201: { description: 'Created', schema: z.object({ key: ApiKeySchema, apiKey: z.string() }) },
      },
      run: async ({ principal, body }) =>
        json(201, await createApiKey(deps(), tenantOf(principal), body ?? {})),
    }),
    'GET /admin/keys': defineRoute({
      summary: 'List admin keys, masked',
      query: PageQuerySchema,
      responses: { 200: { description: 'A page of keys', schema: pageOf(ApiKeySchema) } },
      run: async ({ principal, query }) => json(200, await listApiKeys(deps(), tenantOf(principal), query)),
    }),
    'DELETE /admin/keys/{keyId}': defineRoute({
      summary: 'Revoke an admin key; it fails from the next request on',
      responses: { 204: { description: 'Revoked' } },
      run: async ({ principal, params }) => {
        await revokeApiKey(deps(), tenantOf(principal), params.keyId ?? '');
        return noContent();
      },
    }),
  };
}

/** A tenant's bots: their settings, and deleting one with everything it owns. */
function botRoutes(deps: () => AdminDeps): RouteTable {
  return {
    'POST /admin/bots': defineRoute({
      summary: 'Create a bot; omitted settings take their defaults',
      body: BotCreateSchema,
      responses: { 201: { description: 'Created', schema: z.object({ bot: BotSchema }) } },
      run: async ({ principal, body }) =>
        json(201, { bot: await createBot(deps(), tenantOf(principal), body) }),
    }),
    'GET /admin/bots': defineRoute({
      summary: 'List bots',
      query: PageQuerySchema,
      responses: { 200: { description: 'A page of bots', schema: pageOf(BotSchema) } },
      run: async ({ principal, query }) => json(200, await listBots(deps(), tenantOf(principal), query)),
    }),
    'GET /admin/bots/{botId}': defineRoute({
      summary: 'Get a bot',
      responses: { 200: { description: 'The bot', schema: z.object({ bot: BotSchema }) } },
      run: async ({ principal, params }) =>
        json(200, { bot: await getBot(deps(), tenantOf(principal), params.botId ?? '') }),
    }),
    'PATCH /admin/bots/{botId}': defineRoute({
      summary: 'Change some of a bot’s settings; nested groups may be given in part',
      body: BotPatchSchema,
      responses: {
        200: { description: 'Updated', schema: z.object({ bot: BotSchema }) },
        409: { description: 'Changed concurrently by another request' },
      },
      run: async ({ principal, params, body }) =>
        json(200, { bot: await updateBot(deps(), tenantOf(principal), params.botId ?? '', body) }),
    }),
    'DELETE /admin/bots/{botId}': defineRoute({
      summary: 'Delete a bot and everything it owns',
      responses: deleted,
      run: async ({ principal, params }) => {
        await deleteBot(deps(), tenantOf(principal), params.botId ?? '');
        return noContent();
      },
    }),
  };
}

/** What a bot would retrieve, and the conversations it has had. */
function inspectionRoutes(deps: () => AdminDeps): RouteTable {
  return {
    'POST /admin/bots/{botId}/search': defineRoute({
      summary: 'What the bot would retrieve for a query, with scores and metadata',
      body: SearchSchema,
      responses: { 200: { description: 'The passages, best first', schema: SearchResultsSchema } },
      run: async ({ principal, params, body }) => {
        const d = deps();
        const results = await searchKnowledge(
          { ...d, ...(await d.retrieval()) },
          tenantOf(principal),
          params.botId ?? '',
          body,
        );
        return json(200, { results });
      },
    }),
    'GET /admin/bots/{botId}/sessions': defineRoute({
      summary: "List a bot's live conversations, newest first",
      query: PageQuerySchema,
      responses: { 200: { description: 'A page of sessions', schema: pageOf(SessionSchema) } },
      run: async ({ principal, params, query }) => {
        const d = deps();
        const bot = await getBot(d, tenantOf(principal), params.botId ?? '');
        const page = await d.sessions.list(bot.tenantId, bot.id, query, d.clock.now());
        return json(200, { items: page.items.map(toSessionView), nextCursor: page.nextCursor });
      },
    }),
    'GET /admin/bots/{botId}/sessions/{sessionId}': defineRoute({
      summary: 'One conversation with its messages, oldest first',
      responses: {
        200: {
          description: 'The session',
          schema: z.object({ session: SessionSchema, messages: z.array(MessageSchema) }),
        },
      },
      run: async ({ principal, params }) => {
        const d = deps();
        const bot = await getBot(d, tenantOf(principal), params.botId ?? '');
        const now = d.clock.now();
        // The session and its messages in one read.
        const { session, history: messages } = await d.sessions.open(
          bot.tenantId,
          bot.id,
          params.sessionId ?? '',
          MAX_SESSION_MESSAGES,
          now,
        );
        if (!session) throw new NotFoundError('No such session');
        return json(200, { session: toSessionView(session), messages });
      },
    }),
  };
}
