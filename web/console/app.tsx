// The console's frame: signed out, the sign-in form; signed in, the header with its navigation and
// the screen the hash names. The key goes to the API on every call and nowhere else.

import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { type Api, ApiError, describeError } from '../shared/api.ts';
import { BotView } from './bot.tsx';
import { Bots } from './bots.tsx';
import { Keys } from './keys.tsx';
import { href, navigate, useRoute } from './router.ts';
import {
  type ConsoleContext,
  ConsoleCtx,
  readSession,
  type Session,
  useConsole,
  writeSession,
} from './session.ts';
import { SignIn } from './signin.tsx';
import { Tenants } from './tenants.tsx';
import { useTitle } from './ui.tsx';
import { Usage } from './usage.tsx';

const HOME: Record<Session['role'], string> = { tenant: 'bots', operator: 'tenants' };
const SECTIONS: Record<Session['role'], string[]> = {
  tenant: ['bots', 'usage', 'keys'],
  operator: ['tenants'],
};

export function App({ api }: { api: Api }) {
  const [session, setSession] = useState<Session | undefined>(readSession);
  const [notice, setNotice] = useState<string | undefined>(undefined);

  const signOut = useCallback((message?: string) => {
    writeSession(undefined);
    setSession(undefined);
    setNotice(message ?? 'You have signed out.');
  }, []);

  const context = useMemo<ConsoleContext | undefined>(() => {
    if (!session) return undefined;
    return {
      api,
      session,
      signOut,
      replaceKey(key: string) {
        const next = { key, role: session.role };
        writeSession(next);
        setSession(next);
      },
      async call<T>(path: string, options = {}) {
        try {
          return await api.json<T>(path, { ...options, apiKey: session.key });
        } catch (error) {
          if (error instanceof ApiError && error.status === 401) signOut(describeError(error));
          throw error;
        }
      },
    };
  }, [api, session, signOut]);

  if (!context) {
    return (
      <SignIn
        api={api}
        notice={notice}
        onSignedIn={(signedIn) => {
          writeSession(signedIn);
          setNotice(undefined);
          setSession(signedIn);
          // Back to where the person was before a sign-out, unless that belongs to the other role.
          const section = location.hash.replace(/^#\/?/, '').split('/')[0] ?? '';
          if (!SECTIONS[signedIn.role].includes(section)) navigate(HOME[signedIn.role]);
        }}
      />
    );
  }
  return (
    <ConsoleCtx.Provider value={context}>
      <Shell />
    </ConsoleCtx.Provider>
  );
}

function Shell() {
  const { session, signOut } = useConsole();
  const route = useRoute();
  const [menuOpen, setMenuOpen] = useState(false);
  const path = route.join('/');
  const section = route[0] ?? HOME[session.role];

  // A new screen closes the phone menu and puts the keyboard at its start.
  useEffect(() => {
    setMenuOpen(false);
    if (path) document.getElementById('main')?.focus({ preventScroll: true });
  }, [path]);

  const links =
    session.role === 'tenant'
      ? ([
          ['bots', 'Bots'],
          ['usage', 'Usage'],
          ['keys', 'API keys'],
        ] as const)
      : ([['tenants', 'Tenants']] as const);

  return (
    <div class="pc-shell">
      <button
        type="button"
        class="pc-skip pc-secondary"
        onClick={() => document.getElementById('main')?.focus()} // the hash is the route: no #main link
      >
        Skip to content
      </button>
      <header class="pc-header">
        <a class="pc-brand" href={href(HOME[session.role])}>
          Parley console
        </a>
        <button
          type="button"
          class="pc-menu-toggle pc-secondary"
          aria-expanded={menuOpen}
          aria-controls="pc-nav"
          onClick={() => setMenuOpen((open) => !open)}
        >
          Menu
        </button>
        <nav id="pc-nav" class={`pc-nav${menuOpen ? ' pc-nav-open' : ''}`} aria-label="Main">
          <ul>
            {links.map(([target, label]) => (
              <li key={target}>
                <a href={href(target)} aria-current={section === target ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
          <span class="pc-role">{session.role === 'tenant' ? 'Tenant' : 'Operator'}</span>
          <button type="button" class="pc-secondary" onClick={() => signOut()}>
            Sign out
          </button>
        </nav>
      </header>
      <main id="main" class="pc-main" tabIndex={-1}>
        <Screen route={route} />
      </main>
    </div>
  );
}

function Screen({ route }: { route: string[] }) {
  const { session } = useConsole();
  const [section, botId, tab, item] = route;
  if (session.role === 'operator') {
    return section === undefined || section === 'tenants' ? <Tenants /> : <NotFound />;
  }
  if (section === undefined || (section === 'bots' && botId === undefined)) return <Bots />;
  if (section === 'bots' && botId !== undefined)
    return <BotView botId={botId} tab={tab ?? 'settings'} item={item} />;
  if (section === 'usage' && botId === undefined) return <Usage />;
  if (section === 'keys' && botId === undefined) return <Keys />;
  return <NotFound />;
}

function NotFound() {
  const { session } = useConsole();
  useTitle('Not found');
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. <a href={href(HOME[session.role])}>Go to the start</a>.
      </p>
    </section>
  );
}
