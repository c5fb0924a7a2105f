import { type Bot, DEFAULT_BOT_SETTINGS } from '../../shared/domain/bot.ts';
import { BotDisabledError, UnauthorizedError } from '../../shared/domain/errors.ts';
import type { BotRepository } from '../../shared/ports/repositories.ts';
import { resolveBot } from '../../shared/usecases/chat.ts';

// A turn reads its bot once, and that read is fresh: an owner who disables a bot or makes it
// private stops it on the very next turn, in every warm container.

/** The bot repository's one read a turn makes, over an in-memory record the test can change. */
function botStore(bot: Bot): { bots: Pick<BotRepository, 'findById'>; bot: Bot } {
  const store = {
    bot,
    bots: { findById: async (id: string) => (id === store.bot.id ? store.bot : undefined) },
  };
  return store;
}

const publicBot = (): Bot => ({
  ...DEFAULT_BOT_SETTINGS,
  name: 'Help desk',
  visibility: 'public',
  // A distinct id per test: a per-container cache, if there were one, would be keyed by it.
  id: `bot-${Math.random().toString(36).slice(2)}`,
  tenantId: 'tenant-1',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});

describe('the bot a turn resolves', () => {
  it('is disabled on the very next turn after its owner disables it', async () => {
    const store = botStore(publicBot());
    const caller = { kind: 'tenant', tenantId: 'tenant-1' } as const;
    await expect(resolveBot(store, store.bot.id, caller)).resolves.toMatchObject({ enabled: true });
    store.bot = { ...store.bot, enabled: false };
    await expect(resolveBot(store, store.bot.id, caller)).rejects.toBeInstanceOf(BotDisabledError);
  });

  it('refuses anonymous callers on the very next turn after its owner makes it private', async () => {
    const store = botStore(publicBot());
    const caller = { kind: 'anonymous' } as const;
    await expect(resolveBot(store, store.bot.id, caller)).resolves.toMatchObject({ visibility: 'public' });
    store.bot = { ...store.bot, visibility: 'private' };
    await expect(resolveBot(store, store.bot.id, caller)).rejects.toBeInstanceOf(UnauthorizedError);
  });
});
