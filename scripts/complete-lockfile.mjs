#!/usr/bin/env node
// Completes package-lock.json with the platform-specific optional packages that this machine's
// npm registry snapshot lacks (e.g. @lancedb/lancedb's darwin/win32/arm64 binaries). npm records
// nothing for an optional dependency it could not fetch, and `npm ci` then rejects the lock
// ("Missing: X from lock file"). A minimal entry — the declared exact version, marked optional —
// satisfies `npm ci`, which skips the package where it does not fit or cannot be fetched.
//
// Usage: node scripts/complete-lockfile.mjs [path/to/package-lock.json]
// Idempotent: a second run adds nothing.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

const lockPath = resolve(process.argv[2] ?? 'package-lock.json');
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const packages = lock.packages;
if (typeof packages !== 'object' || packages === null) {
  console.error(`${lockPath}: no "packages" map (lockfileVersion 2 or 3 expected)`);
  process.exit(1);
}

/** Where npm would find `name` from the package at `location`: its own node_modules, then up. */
function resolvesTo(location, name) {
  let dir = location;
  for (;;) {
    const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
    if (candidate in packages) return candidate;
    if (dir === '') return undefined;
    const cut = dir.lastIndexOf('/node_modules/');
    dir = cut === -1 ? '' : dir.slice(0, cut);
  }
}

const EXACT = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;
const added = [];
const skipped = [];
for (const [location, entry] of Object.entries(packages)) {
  const optional = entry?.optionalDependencies;
  if (!optional) continue;
  for (const [name, spec] of Object.entries(optional)) {
    if (resolvesTo(location, name)) continue;
    if (!EXACT.test(spec)) {
      skipped.push(`${name}@${spec} (from ${location || 'the root'}: not an exact version)`);
      continue;
    }
    const record = { version: spec, optional: true };
    if (entry.dev === true) record.dev = true;
    packages[`node_modules/${name}`] = record;
    added.push(`node_modules/${name}@${spec}${record.dev ? ' (dev)' : ''} for ${location || 'the root'}`);
  }
}

if (added.length > 0) {
  // npm keeps `packages` sorted by location; keep the root ("") first.
  const sorted = Object.fromEntries(
    Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)),
  );
  lock.packages = sorted;
  writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
}
for (const line of added) console.log(`added ${line}`);
for (const line of skipped) console.warn(`skipped ${line}`);
if (added.length === 0) console.log('package-lock.json already complete: nothing added');
