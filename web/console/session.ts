// Who is signed in: the key and what kind it is. The key lives in sessionStorage only (it ends with
// the tab, and never reaches a URL), and every call goes through `call`, which signs out on a 401.

import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { type Api, ApiError, type RequestOptions } from '../shared/api.ts';

export type Role = 'tenant' | 'operator';

export interface Session {
  key: string;
  role: Role;
}

const STORAGE_KEY = 'parley:console:session';

export function readSession(): Session | undefined {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    if (!raw) return undefined;
    const parsed = JSON.parse(raw) as Partial<Session>;
    return typeof parsed.key === 'string' && (parsed.role === 'tenant' || parsed.role === 'operator')
      ? { key: parsed.key, role: parsed.role }
      : undefined;
  } catch {
    return undefined; // storage blocked or garbled: sign in again
  }
}

export function writeSession(session: Session | undefined): void {
  try {
    if (session) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // storage blocked: the session lasts as long as the page
  }
}

const refused = (error: unknown) =>
  error instanceof ApiError && (error.status === 401 || error.status === 403);

async function works(api: Api, path: string, key: string): Promise<boolean> {
  try {
    await api.json(path, { apiKey: key });
    return true;
  } catch (error) {
    if (refused(error)) return false;
    throw error;
  }
}

/**
 * Which kind of key this is, by asking the API: a tenant key lists bots, the operator key lists
 * tenants. Tenant keys start with `pk_`, so they are tried as such first.
 */
export async function detectRole(api: Api, key: string): Promise<Role> {
  const order: Role[] = key.startsWith('pk_') ? ['tenant', 'operator'] : ['operator', 'tenant'];
  for (const role of order) {
    if (await works(api, role === 'tenant' ? '/admin/bots?limit=1' : '/admin/tenants?limit=1', key))
      return role;
  }
  throw new ApiError(401, 'unauthorized', 'The key was not accepted.');
}

export interface ConsoleContext {
  api: Api;
  session: Session;
  /** An API call with the session's key; a 401 signs out (with its message) before it rethrows. */
  call<T>(path: string, options?: Omit<RequestOptions, 'apiKey'>): Promise<T>;
  signOut(message?: string): void;
  /** Carries on with another key of the same role: the successor of the key just rotated. */
  replaceKey(key: string): void;
}

export const ConsoleCtx = createContext<ConsoleContext | undefined>(undefined);

export function useConsole(): ConsoleContext {
  const context = useContext(ConsoleCtx);
  if (!context) throw new Error('useConsole outside the signed-in console');
  return context;
}
