// The console's API keys screen in Chromium against the local platform: a key made there is shown
// once and works against the API; rotating one makes a successor that works while the old key is
// refused; revoking one gets it refused; the API's refusal of a bad name is shown at the field; and
// rotating the key the console is signed in with carries the console over to its successor.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Locator, Page } from 'playwright-core';
import { launchBrowser, screenshot, waitForText, watchedPage } from '../support/browser.ts';
import { api, platform } from '../support/platform.ts';

let browser: Browser;
let firstKey: string;
let page: Page;
let problems: string[];

/** What a tenant key can do when it works: list the tenant's bots. */
const statusWith = async (key: string) => (await api('/admin/bots?limit=1', { key })).status;

const keyList = () => page.getByRole('list', { name: 'Active keys' });
/** The list's row for the key named `name` (exactly: a key's prefix is random text). */
const row = (name: string): Locator =>
  keyList()
    .getByRole('listitem')
    .filter({ has: page.locator('.pc-list-title').getByText(name, { exact: true }) });

/** The secret in the "shown once" panel. */
async function shownKey(): Promise<string> {
  const text = await waitForText(page.locator('.pc-new-key code'), /^pk_/);
  return text.trim();
}

/** Answers a row's two-step question (rotate or revoke) with yes. */
async function confirm(action: 'Rotate' | 'Revoke', name: string) {
  await page.getByRole('button', { name: `${action} “${name}”` }).click();
  await row(name)
    .getByRole('button', { name: `Yes, ${action.toLowerCase()}` })
    .click();
}

beforeAll(async () => {
  browser = await launchBrowser();
  const tenant = await api('/admin/tenants', { key: platform().operatorKey, body: { name: 'Keyholders' } });
  firstKey = tenant.json.apiKey;
  ({ page, problems } = await watchedPage(browser));
  await page.goto(`${platform().baseUrl}/`);
  await page.getByLabel('API key').fill(firstKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await waitForText(page.locator('h1'), 'Bots');
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

/** Console errors other than the browser's own line for a failed request the test provoked. */
const unexpected = (list: string[]) => list.filter((p) => !p.includes('Failed to load resource'));

describe('API keys screen', () => {
  let ciKey = '';

  it('lists the tenant’s keys, marking the one the console is signed in with', async () => {
    await page.getByRole('link', { name: 'API keys' }).click();
    expect(await waitForText(page.locator('h1'), 'API keys')).toBe('API keys');
    const first = await waitForText(row('first key'), 'Signed in with this key');
    expect(first).toContain('Active');
    expect(first).toContain(`${firstKey.slice(0, 24)}…`); // the prefix, never the whole key
    expect(first).not.toContain(firstKey);
  });

  it('creates a named key, shows its secret once, and the secret works against the API', async () => {
    await page.getByLabel('Name (optional)').fill('ci');
    await page.getByRole('button', { name: 'Create key' }).click();
    ciKey = await shownKey();
    await waitForText(page.locator('.pc-new-key'), 'you won’t see it again');
    await page.getByRole('button', { name: 'Copy the new API key' }).waitFor();
    await screenshot(page, 'console-keys-created');
    expect(await statusWith(ciKey)).toBe(200);
    await waitForText(row('ci'), `${ciKey.slice(0, 24)}…`);

    await page.getByRole('button', { name: 'I have copied the key' }).click();
    await page.locator('.pc-new-key').waitFor({ state: 'detached' });
    expect(await page.content()).not.toContain(ciKey);
    await page.reload(); // nor does the list, loaded afresh, hold it
    await waitForText(row('ci'), 'Active');
    expect(await page.content()).not.toContain(ciKey);
  });

  it('rotates a key after asking: the new key works, the old one is refused', async () => {
    await page.getByRole('button', { name: 'Rotate “ci”' }).click();
    await waitForText(row('ci').locator('legend'), 'A new key is made and shown once');
    await screenshot(page, 'console-keys-rotate-confirm');
    await row('ci').getByRole('button', { name: 'Yes, rotate' }).click();
    await waitForText(page.locator('.pc-new-key'), 'has been revoked');
    const rotated = await shownKey();
    expect(rotated).not.toBe(ciKey);
    expect(await statusWith(ciKey)).toBe(401);
    expect(await statusWith(rotated)).toBe(200);
    // One "ci" row again, the successor's.
    await waitForText(row('ci'), `${rotated.slice(0, 24)}…`);
    expect(await row('ci').count()).toBe(1);
    ciKey = rotated;
    await page.getByRole('button', { name: 'I have copied the key' }).click();
    await page.locator('.pc-new-key').waitFor({ state: 'detached' });
  });

  it('revokes a key after asking: it is refused and leaves the list', async () => {
    await confirm('Revoke', 'ci');
    await waitForText(page.locator('main'), 'The key “ci” was revoked.');
    expect(await row('ci').count()).toBe(0);
    expect(await statusWith(ciKey)).toBe(401);
    expect(await statusWith(firstKey)).toBe(200);
  });

  it('shows the API’s refusal of a name at its field', async () => {
    // The field stops typing at 100 characters; the API is the rule, so ask it with 101.
    await page.getByLabel('Name (optional)').evaluate((input) => input.removeAttribute('maxlength'));
    await page.getByLabel('Name (optional)').fill('n'.repeat(101));
    await page.getByRole('button', { name: 'Create key' }).click();
    await waitForText(page.locator('.pc-field-invalid .pc-field-error'), /100/);
    await screenshot(page, 'console-keys-invalid');
    expect(await page.locator('.pc-new-key').count()).toBe(0);
  });
});

describe('the key the console is signed in with', () => {
  it('rotates it and carries on with the new one; revoking that signs the console out', async () => {
    await confirm('Rotate', 'first key');
    await waitForText(page.locator('.pc-new-key'), 'has been revoked');
    const successor = await shownKey();
    expect(await statusWith(firstKey)).toBe(401);
    expect(await statusWith(successor)).toBe(200);
    // Still signed in: the list reloaded with the successor, which is marked as the session's.
    await waitForText(row('first key'), `${successor.slice(0, 24)}…`);
    await waitForText(row('first key'), 'Signed in with this key');
    await page.getByRole('link', { name: 'Bots' }).click();
    expect(await waitForText(page.locator('h1'), 'Bots')).toBe('Bots');
    await screenshot(page, 'console-keys-after-own-rotation');

    // Revoking it too signs the console out, with a word on why.
    await page.getByRole('link', { name: 'API keys' }).click();
    await confirm('Revoke', 'first key');
    await waitForText(page.locator('body'), 'You revoked the key you were signed in with');
    expect(await statusWith(successor)).toBe(401);
    expect(unexpected(problems)).toEqual([]);
  });
});
