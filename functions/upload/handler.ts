import { httpHandler } from '../../shared/http/handler.ts';
import { once } from '../../shared/memo.ts';
import { createKnowledgeDeps } from '../../shared/wiring/knowledge-deps.ts';
import { uploadRoutes } from './routes.ts';

const deps = once(createKnowledgeDeps);
// Tenant routes only, so no operator key source.
const auth = () => ({ keys: deps().repos.keys, clock: deps().clock });

export const handler = httpHandler(uploadRoutes(deps), auth);
