/**
 * The Node options a worker thread running `url` needs: from a .ts file, tsx's loader (inherited
 * when this process runs under tsx, as the local platform and the benches do; added under jest,
 * whose own transform does not reach worker threads).
 */
export function workerExecArgv(url: URL): string[] {
  const inherited = process.execArgv;
  if (!url.pathname.endsWith('.ts') || inherited.some((arg) => arg.includes('tsx'))) return inherited;
  return [...inherited, '--import', 'tsx'];
}
