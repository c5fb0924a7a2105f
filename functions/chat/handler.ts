import { chatChain } from '../../shared/http/chat.ts';
import { chatFunctionDeps } from '../../shared/wiring/chat-deps.ts';
import { chatRoutes } from './routes.ts';

export const handler = chatChain(chatRoutes(chatFunctionDeps), chatFunctionDeps);
