import type { ApiKeyRecord } from '../domain/api-key.ts';
import type { Bot } from '../domain/bot.ts';
import type { Tenant } from '../domain/tenant.ts';

// Every method that touches a tenant's data takes the tenant id: no call can read across tenants.

export interface PageRequest {
  limit: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface TenantRepository {
  /** Creates the tenant and its first admin key together, or neither. */
  create(tenant: Tenant, firstKey: ApiKeyRecord): Promise<void>;
  get(tenantId: string): Promise<Tenant | undefined>;
  list(page: PageRequest): Promise<Page<Tenant>>;
  /** Replaces the stored tenant; false if it no longer exists. */
  update(tenant: Tenant): Promise<boolean>;
  delete(tenantId: string): Promise<void>;
}

export interface ApiKeyRepository {
  create(key: ApiKeyRecord): Promise<void>;
  /** A strongly consistent read by key id, for authentication: a revoked key is gone at once. */
  getForAuth(keyId: string): Promise<ApiKeyRecord | undefined>;
  list(tenantId: string, page: PageRequest): Promise<Page<ApiKeyRecord>>;
  /** Deletes the tenant's key; false if the tenant has no such key. */
  revoke(tenantId: string, keyId: string): Promise<boolean>;
  /** Records use, at most once per `minIntervalSeconds`, so hot keys do not write on every call. */
  touch(tenantId: string, keyId: string, at: Date, minIntervalSeconds: number): Promise<void>;
  /** Every key id of the tenant, for the deletion cascade. */
  listIds(tenantId: string): Promise<string[]>;
}

export interface BotRepository {
  create(bot: Bot): Promise<void>;
  get(tenantId: string, botId: string): Promise<Bot | undefined>;
  list(tenantId: string, page: PageRequest): Promise<Page<Bot>>;
  /** Replaces the stored bot if it still exists and was last updated at `expectedUpdatedAt`. */
  update(bot: Bot, expectedUpdatedAt: string): Promise<'updated' | 'missing' | 'conflict'>;
  delete(tenantId: string, botId: string): Promise<boolean>;
  /** Every bot id of the tenant, for the deletion cascade. */
  listIds(tenantId: string): Promise<string[]>;
}

export interface Repositories {
  tenants: TenantRepository;
  keys: ApiKeyRepository;
  bots: BotRepository;
}
