// Hash routes (`#/bots/<id>/settings`): the page is one static file, so the hash is the only part
// of the URL the app owns. Keys never go here.

import { useEffect, useState } from 'preact/hooks';

const parse = (hash: string): string[] =>
  hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter(Boolean)
    .map((part) => {
      try {
        return decodeURIComponent(part);
      } catch {
        return part; // a malformed escape: show it as typed, the route will not match
      }
    });

/** The current route's segments, updated on every hash change. */
export function useRoute(): string[] {
  const [route, setRoute] = useState(() => parse(location.hash));
  useEffect(() => {
    const update = () => setRoute(parse(location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}

/** A link target for route segments. */
export const href = (...parts: string[]): string => `#/${parts.map(encodeURIComponent).join('/')}`;

export function navigate(...parts: string[]): void {
  location.hash = href(...parts);
}
