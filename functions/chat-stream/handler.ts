import { chatChain, chatFunctionDeps } from '../../shared/http/chat.ts';
import { chatStreamRoutes } from './routes.ts';

export const handler = chatChain(chatStreamRoutes(chatFunctionDeps), chatFunctionDeps, { streaming: true });
