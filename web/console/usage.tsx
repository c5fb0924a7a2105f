// Usage over the last 30 days (all bots or one): messages per day as a bar chart, tokens and cost
// per day in a table, and the current month against the plan's quotas.

import { useState } from 'preact/hooks';
import { formatNumber, formatUsd, isoDay } from './format.ts';
import { useConsole } from './session.ts';
import type { Bot, Page, UsageCounters, UsageReport } from './types.ts';
import { ErrorAlert, Field, Loading, useLoad, useTitle } from './ui.tsx';

const DAYS = 30;

function lastDays(count: number): { from: string; to: string } {
  const to = new Date();
  const from = new Date(to.getTime() - (count - 1) * 86_400_000);
  return { from: isoDay(from), to: isoDay(to) };
}

export function Usage() {
  useTitle('Usage');
  const { call } = useConsole();
  const [botId, setBotId] = useState('');
  const bots = useLoad(() => call<Page<Bot>>('/admin/bots?limit=100'), []);
  const report = useLoad(() => {
    const { from, to } = lastDays(DAYS);
    const query = new URLSearchParams({ from, to, ...(botId ? { botId } : {}) });
    return call<UsageReport>(`/admin/usage?${query}`);
  }, [botId]);

  return (
    <section>
      <h1>Usage</h1>
      {report.data ? <Quotas quota={report.data.quota} /> : null}
      <h2>Last {DAYS} days</h2>
      <div class="pc-row">
        <Field id="pc-usage-bot" label="Bot">
          {(aria) => (
            <select {...aria} value={botId} onChange={(e) => setBotId(e.currentTarget.value)}>
              <option value="">All bots</option>
              {bots.data?.items.map((bot) => (
                <option key={bot.id} value={bot.id}>
                  {bot.name}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      {report.error ? <ErrorAlert error={report.error} /> : null}
      {report.loading && !report.data ? <Loading what="Loading usage…" /> : null}
      {report.data ? (
        <div aria-busy={report.loading}>
          <Chart days={report.data.days} />
          <UsageTable report={report.data} />
        </div>
      ) : null}
    </section>
  );
}

const shortDay = (date: string) =>
  new Date(`${date}T00:00:00Z`).toLocaleDateString('en', { month: 'short', day: 'numeric', timeZone: 'UTC' });

/** Messages per day as bars; the numbers are in the table below for anyone who cannot see it. */
function Chart({ days }: { days: UsageReport['days'] }) {
  const width = 600;
  const height = 180;
  const top = 16;
  const bottom = 22;
  const left = 36;
  const plot = height - top - bottom;
  const max = Math.max(1, ...days.map((d) => d.messages));
  const slot = (width - left) / Math.max(1, days.length);
  const total = days.reduce((sum, d) => sum + d.messages, 0);
  const first = days[0];
  const last = days[days.length - 1];
  return (
    <figure class="pc-chart">
      <svg
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label={`Messages per day: ${formatNumber(total)} in ${days.length} days, at most ${formatNumber(max)} in a day`}
      >
        <line class="pc-chart-axis" x1={left} x2={width} y1={top + plot} y2={top + plot} />
        <line class="pc-chart-grid" x1={left} x2={width} y1={top} y2={top} />
        <text class="pc-chart-label" x={left - 6} y={top + 4} text-anchor="end">
          {formatNumber(max)}
        </text>
        <text class="pc-chart-label" x={left - 6} y={top + plot + 4} text-anchor="end">
          0
        </text>
        {days.map((day, index) => {
          const barHeight = (day.messages / max) * plot;
          return (
            <rect
              key={day.date}
              class="pc-chart-bar"
              x={left + index * slot + slot * 0.15}
              y={top + plot - barHeight}
              width={slot * 0.7}
              height={Math.max(barHeight, day.messages > 0 ? 1 : 0)}
            >
              <title>{`${day.date}: ${formatNumber(day.messages)} messages`}</title>
            </rect>
          );
        })}
        {first ? (
          <text class="pc-chart-label" x={left} y={height - 4} text-anchor="start">
            {shortDay(first.date)}
          </text>
        ) : null}
        {last ? (
          <text class="pc-chart-label" x={width} y={height - 4} text-anchor="end">
            {shortDay(last.date)}
          </text>
        ) : null}
      </svg>
      <figcaption>Messages per day (UTC)</figcaption>
    </figure>
  );
}

function UsageTable({ report }: { report: UsageReport }) {
  const rows = [...report.days].reverse(); // newest first: the day people look for
  return (
    <div class="pc-table-wrap">
      <table class="pc-table">
        <caption>Usage per day (UTC), newest first</caption>
        <thead>
          <tr>
            <th scope="col">Date</th>
            <th scope="col">Messages</th>
            <th scope="col">Input tokens</th>
            <th scope="col">Output tokens</th>
            <th scope="col">Embedding tokens</th>
            <th scope="col">Cost</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((day) => (
            <tr key={day.date}>
              <th scope="row">{day.date}</th>
              <CounterCells counters={day} />
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row">Total</th>
            <CounterCells counters={report.totals} />
          </tr>
        </tfoot>
      </table>
    </div>
  );
}

/** A day's counters, or the totals, in the table's column order. */
function CounterCells({ counters }: { counters: UsageCounters }) {
  return (
    <>
      <td>{formatNumber(counters.messages)}</td>
      <td>{formatNumber(counters.inputTokens)}</td>
      <td>{formatNumber(counters.outputTokens)}</td>
      <td>{formatNumber(counters.embeddingTokens)}</td>
      <td>{formatUsd(counters.costUsd)}</td>
    </>
  );
}

function Quotas({ quota }: { quota: UsageReport['quota'] }) {
  return (
    <section class="pc-quotas" aria-labelledby="pc-quota-title">
      <h2 id="pc-quota-title">This month ({quota.period})</h2>
      <QuotaBar what="messages" label="Messages" used={quota.messagesUsed} limit={quota.messagesLimit} />
      <QuotaBar what="tokens" label="Tokens" used={quota.tokensUsed} limit={quota.tokensLimit} />
      {quota.costLimitUsd === null ? null : (
        <QuotaBar
          what="cost cap"
          singular
          label="Cost"
          used={quota.costUsd}
          limit={quota.costLimitUsd}
          format={formatUsd}
        />
      )}
    </section>
  );
}

/** Share of a monthly allowance: a warning from 80 %, "exceeded" from 100 %. */
function QuotaBar(props: {
  what: string;
  label: string;
  used: number;
  limit: number;
  format?: (value: number) => string;
  /** `what` takes "is" rather than "are". */
  singular?: boolean;
}) {
  const are = props.singular ? 'is' : 'are';
  const { used, limit, format = formatNumber } = props;
  const share = limit > 0 ? used / limit : used > 0 ? Number.POSITIVE_INFINITY : 1;
  const percent = limit > 0 ? Math.floor(share * 100) : 100;
  const level = share >= 1 ? 'exceeded' : share >= 0.8 ? 'warning' : 'ok';
  const fill = Math.min(1, share) * 100;
  return (
    <div class={`pc-quota pc-quota-${level}`} data-level={level}>
      <p class="pc-quota-head">
        <strong>{props.label}</strong>
        <span>
          {format(used)} of {format(limit)} ({percent}%)
        </span>
      </p>
      <svg class="pc-quota-bar" viewBox="0 0 100 6" preserveAspectRatio="none" aria-hidden="true">
        <rect class="pc-quota-track" x="0" y="0" width="100" height="6" rx="3" />
        <rect class="pc-quota-fill" x="0" y="0" width={fill} height="6" rx="3" />
      </svg>
      {level === 'warning' ? (
        <p class="pc-quota-note" role="status">
          Warning: {percent}% of this month’s {props.what} {are} used.
        </p>
      ) : null}
      {level === 'exceeded' ? (
        <p class="pc-quota-note" role="status">
          Quota exceeded: this month’s {props.what} {are} used up, so the bots refuse new messages until next
          month.
        </p>
      ) : null}
    </div>
  );
}
