import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createChatDeps } from '../../shared/config/chat-deps.ts';
import { optional, readEnv } from '../../shared/config/env.ts';
import { once } from '../../shared/memo.ts';
import type { ChatFunctionDeps } from './routes.ts';

/** What the chat functions (buffered and streamed) need, built once per container. */
export const deps = once((): ChatFunctionDeps => {
  const chat = createChatDeps(createDocumentClient());
  const { WEB_ORIGIN } = readEnv({ WEB_ORIGIN: optional });
  return { ...chat, keys: chat.repos.keys, webOrigin: WEB_ORIGIN };
});
