import { describe, expect, it } from '@jest/globals';
import { adminRoutes } from '../../functions/admin/routes.ts';
import { chatRoutes } from '../../functions/chat/routes.ts';
import { chatStreamDocs } from '../../functions/chat-stream/docs.ts';
import { uploadRoutes } from '../../functions/upload/routes.ts';
import { webhookRoutes } from '../../functions/webhooks/routes.ts';
import { buildOpenApi } from '../../shared/http/openapi.ts';
import { routeKey, routes } from '../../shared/resources.ts';

const notCalled = () => {
  throw new Error('not called while building the document');
};
const byFunction = {
  admin: adminRoutes(notCalled),
  upload: uploadRoutes(notCalled),
  chat: chatRoutes(notCalled),
  'chat-stream': chatStreamDocs,
  webhooks: webhookRoutes(notCalled),
};
const specs = Object.assign({}, ...Object.values(byFunction));

describe('OpenAPI document', () => {
  const doc = buildOpenApi(routes, specs, '1') as {
    paths: Record<
      string,
      Record<string, { requestBody?: unknown; security: unknown[]; responses: Record<string, unknown> }>
    >;
    components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> };
  };

  it('describes every route of the route table, each served by the function the table names', () => {
    for (const [name, table] of Object.entries(byFunction)) {
      const keys = routes
        .filter((r) => r.function === name)
        .map(routeKey)
        .sort();
      expect(Object.keys(table).sort()).toEqual(keys);
    }
    for (const route of routes) {
      const op = doc.paths[route.path]?.[route.method.toLowerCase()];
      expect(op).toBeDefined();
      expect(op?.security.length).toBe(route.auth === 'none' ? 0 : 1);
    }
  });

  it('publishes the bot schema with every field and the create body with only the name required', () => {
    const bot = doc.components.schemas.Bot;
    expect(Object.keys(bot?.properties ?? {})).toEqual(
      expect.arrayContaining([
        'name',
        'persona',
        'systemPrompt',
        'model',
        'retrieval',
        'chunking',
        'rateLimits',
        'branding',
        'enabled',
      ]),
    );
    expect(doc.components.schemas.BotCreate?.required).toEqual(['name']);
    expect(doc.paths['/admin/bots']?.post?.responses['400']).toBeDefined();
  });
});
