// Lists the API hands out a page at a time (`?limit=` and `&cursor=`): the first page loads with
// the screen, and a "Load more" button appends the next.

import { useState } from 'preact/hooks';
import type { Page } from './types.ts';
import { ErrorAlert, type Loaded, useLoad } from './ui.tsx';

export const PAGE_SIZE = 50;

/** The path of a list's first page, or of the page after `cursor`. */
export const pagePath = (path: string, cursor?: string, size = PAGE_SIZE): string =>
  `${path}?limit=${size}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;

export interface Paged<T> extends Loaded<Page<T>> {
  /** The next page on its way, or what it failed with. */
  more: { busy: boolean; error?: unknown };
  /** Appends the page after the last one loaded (if there is one). */
  loadMore: () => Promise<void>;
}

/** Loads the first page when the inputs change (as `useLoad`); `load` is given the cursor of a later page. */
export function usePaged<T>(
  load: (cursor?: string) => Promise<Page<T>>,
  inputs: readonly unknown[],
): Paged<T> {
  const list = useLoad(() => load(), inputs);
  const [more, setMore] = useState<{ busy: boolean; error?: unknown }>({ busy: false });

  async function loadMore() {
    const cursor = list.data?.nextCursor;
    if (!cursor) return;
    setMore({ busy: true });
    try {
      const page = await load(cursor);
      list.setData((current) => ({
        items: [...(current?.items ?? []), ...page.items],
        nextCursor: page.nextCursor,
      }));
      setMore({ busy: false });
    } catch (error) {
      setMore({ busy: false, error });
    }
  }

  return { ...list, more, loadMore };
}

/** Why the last "Load more" failed, and the button while there is a next page. */
export function LoadMore({
  list,
  label,
}: {
  list: Pick<Paged<unknown>, 'data' | 'more' | 'loadMore'>;
  label: string;
}) {
  return (
    <>
      {list.more.error ? <ErrorAlert error={list.more.error} /> : null}
      {list.data?.nextCursor ? (
        <button type="button" class="pc-secondary" disabled={list.more.busy} onClick={list.loadMore}>
          {list.more.busy ? 'Loading…' : label}
        </button>
      ) : null}
    </>
  );
}
