/** Builds a value on first use and keeps it for the container's life (clients, validated env). */
export function once<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => {
    built ??= { value: build() };
    return built.value;
  };
}
