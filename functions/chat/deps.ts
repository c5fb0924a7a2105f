import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createChatDeps } from '../../shared/config/chat-deps.ts';
import { optional, readEnv } from '../../shared/config/env.ts';
import { ORIGIN_SECRET_ENV } from '../../shared/http/edge.ts';
import { once } from '../../shared/memo.ts';
import type { ChatFunctionDeps } from './routes.ts';

/** What the chat functions (buffered and streamed) need, built once per container. */
export const deps = once((): ChatFunctionDeps => {
  const chat = createChatDeps(createDocumentClient());
  const env = readEnv({ WEB_ORIGIN: optional, [ORIGIN_SECRET_ENV]: optional });
  return { ...chat, keys: chat.repos.keys, webOrigin: env.WEB_ORIGIN, originSecret: env[ORIGIN_SECRET_ENV] };
});
