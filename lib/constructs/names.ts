/** `chat-stream` → `ChatStream`: construct ids from the names in the resource definitions. */
export function pascal(name: string): string {
  return name
    .split(/[^a-zA-Z0-9]+/)
    .filter((part) => part.length > 0)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/** Typed `Object.entries` for records keyed by a string union. */
export function entries<K extends string, V>(record: { readonly [P in K]?: V }): [K, V][] {
  return Object.entries(record) as [K, V][];
}
