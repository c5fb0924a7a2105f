import { httpHandler } from '../../shared/http/handler.ts';
import { deps } from './deps.ts';
import { chatCors, chatRoutes } from './routes.ts';

export const handler = httpHandler(chatRoutes(deps), deps, { outer: chatCors });
