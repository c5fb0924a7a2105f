// What the resilience suites print at the end: per route of the API, how many requests of each
// kind they sent and which statuses came back, so a reader sees that every route was tried.

import { routeKey, routes } from '../../shared/resources.ts';

export interface RouteTally<Column extends string> {
  /** One more request of `column` on `route` (`GET /admin/bots`); `status` counted if given. */
  count(route: string, column: Column, status?: string | number): void;
  /** Requests of `column` on every route. */
  total(column: Column): number;
  /** Whether anything was counted. */
  readonly empty: boolean;
  /** The table: a row per route (in the route table's order), the columns, the statuses, a total. */
  table(): string;
}

export function routeTally<Column extends string>(columns: readonly Column[]): RouteTally<Column> {
  const rows = new Map<string, { counts: Map<Column, number>; statuses: Map<string, number> }>();
  const total = (column: Column) =>
    [...rows.values()].reduce((sum, row) => sum + (row.counts.get(column) ?? 0), 0);
  return {
    count(route, column, status) {
      const row = rows.get(route) ?? { counts: new Map(), statuses: new Map() };
      row.counts.set(column, (row.counts.get(column) ?? 0) + 1);
      if (status !== undefined) row.statuses.set(String(status), (row.statuses.get(String(status)) ?? 0) + 1);
      rows.set(route, row);
    },
    total,
    get empty() {
      return rows.size === 0;
    },
    table() {
      const keys = routes.map(routeKey);
      const width = Math.max(...keys.map((key) => key.length), 'route'.length);
      const cell = (column: Column, value: number | string) => String(value).padStart(column.length);
      const lines = keys.map((key) => {
        const row = rows.get(key);
        const statuses = row
          ? [...row.statuses]
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([status, n]) => `${status}×${n}`)
              .join(' ')
          : 'not run';
        const counts = columns.map((column) => cell(column, row?.counts.get(column) ?? 0)).join('  ');
        return `${key.padEnd(width)}  ${counts}  ${statuses}`;
      });
      return [
        `${'route'.padEnd(width)}  ${columns.join('  ')}  statuses`,
        ...lines,
        `${'total'.padEnd(width)}  ${columns.map((column) => cell(column, total(column))).join('  ')}`,
      ].join('\n');
    },
  };
}
