// Inputs the resilience fuzzing found answered with 500, each now a clear 4xx (or simply served):
// query and header names that are built-in object properties, ids too long for DynamoDB's keys,
// and a cursor from another list.

import { describe, expect, it } from '@jest/globals';
import { api, platform } from '../support/platform.ts';

async function tenant(name: string) {
  const created = await api('/admin/tenants', { key: platform().operatorKey, body: { name } });
  return created.json.apiKey as string;
}

describe('odd input', () => {
  it('serves requests whose query or header names are built-in object properties', async () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect([name, (await api(`/health?${name}=1`)).status]).toEqual([name, 200]);
      expect([name, (await api('/health', { headers: { [name]: 'x' } })).status]).toEqual([name, 200]);
    }
  });

  it('answers 404 for ids that cannot be ids, however long, and keeps the request id consistent', async () => {
    const key = await tenant('Long ids');
    for (const path of [
      `/admin/bots/${'x'.repeat(1100)}`,
      `/admin/bots/${'x'.repeat(1100)}/documents`,
      `/admin/tenants/${'t'.repeat(2100)}`,
      `/admin/keys/${'k'.repeat(2100)}`,
    ]) {
      const auth = path.startsWith('/admin/tenants') ? platform().operatorKey : key;
      const res = await api(path, { key: auth, method: path.startsWith('/admin/keys') ? 'DELETE' : 'GET' });
      expect([path.slice(0, 30), res.status, res.json?.error?.code]).toEqual([
        path.slice(0, 30),
        404,
        'not_found',
      ]);
      expect(res.json.error.requestId).toBe(res.headers['x-request-id']);
    }
  });

  it('refuses a cursor from another list with 400, not a storage error', async () => {
    const key = await tenant('Cursors');
    const bots: string[] = [];
    for (const name of ['A', 'B']) bots.push((await api('/admin/bots', { key, body: { name } })).json.bot.id);
    for (let i = 0; i < 3; i++) {
      await api(`/admin/bots/${bots[0]}/documents`, {
        key,
        body: { filename: `d${i}.txt`, contentType: 'text/plain', size: 10 },
      });
    }
    const page = await api(`/admin/bots/${bots[0]}/documents?limit=1`, { key });
    const cursor: string = page.json.nextCursor;
    expect(cursor).toEqual(expect.any(String));
    for (const path of [
      `/admin/bots/${bots[1]}/documents?cursor=${cursor}`,
      `/admin/bots?cursor=${cursor}`,
    ]) {
      const res = await api(path, { key });
      expect([path.slice(0, 40), res.status, res.json?.error?.details]).toEqual([
        path.slice(0, 40),
        400,
        [{ path: 'cursor', message: 'is not a cursor from this list' }],
      ]);
    }
  });
});
