import { chatChain } from '../../shared/http/chat.ts';
import { chatFunctionDeps } from '../../shared/wiring/chat-deps.ts';
import { chatStreamRoutes } from './routes.ts';

export const handler = chatChain(chatStreamRoutes(chatFunctionDeps), chatFunctionDeps, { streaming: true });
