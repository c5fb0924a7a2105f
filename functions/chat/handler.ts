import { chatChain, chatFunctionDeps } from '../../shared/http/chat.ts';
import { chatRoutes } from './routes.ts';

export const handler = chatChain(chatRoutes(chatFunctionDeps), chatFunctionDeps);
