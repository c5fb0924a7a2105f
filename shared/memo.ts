/** Builds a value on first use and keeps it for the container's life (clients, validated env). */
export function once<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => {
    built ??= { value: build() };
    return built.value;
  };
}

/**
 * Values kept for `ttlMs` per container (a bot's settings every turn needs), at most `max` of them:
 * a warm container may see many keys, so the cache is cleared when full.
 */
export function expiringCache<V>(options: { ttlMs: number; max: number; now?: () => number }) {
  const now = options.now ?? Date.now;
  const entries = new Map<string, { value: V; at: number }>();
  return {
    async get(key: string, load: () => Promise<V>): Promise<V> {
      const cached = entries.get(key);
      if (cached && now() - cached.at < options.ttlMs) return cached.value;
      const value = await load();
      if (entries.size >= options.max) entries.clear();
      entries.set(key, { value, at: now() });
      return value;
    },
  };
}
