import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createDynamoRepositories } from '../../shared/adapters/dynamodb/repositories.ts';
import { createOperatorKeySource } from '../../shared/adapters/operator-key.ts';
import { optional, readEnv, required } from '../../shared/config/env.ts';
import { httpHandler } from '../../shared/http/handler.ts';
import { buildOpenApi } from '../../shared/http/openapi.ts';
import { once } from '../../shared/memo.ts';
import { systemClock } from '../../shared/ports/clock.ts';
import { routes } from '../../shared/resources.ts';
import { type AdminDeps, adminRoutes } from './routes.ts';

// Built once per container, on its first request: validated environment, clients, repositories.
const deps = once((): AdminDeps => {
  const env = readEnv({
    TENANTS_TABLE: required,
    PARLEY_OPERATOR_KEY: optional,
    OPERATOR_KEY_SECRET_ARN: optional,
  });
  const db = createDocumentClient();
  const repos = createDynamoRepositories(db, env.TENANTS_TABLE);
  return {
    repos,
    keys: repos.keys,
    clock: systemClock,
    operatorKey: createOperatorKeySource(env),
    healthChecks: [
      {
        name: 'dynamodb',
        run: async () => {
          await db.send(
            new GetCommand({ TableName: env.TENANTS_TABLE, Key: { pk: 'HEALTH', sk: 'HEALTH' } }),
          );
        },
      },
    ],
    openApi: once(() => buildOpenApi(routes, specs, '1')),
  };
});

const specs = adminRoutes(deps);

export const handler = httpHandler(specs, deps);
