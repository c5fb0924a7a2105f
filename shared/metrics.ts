import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { type MetricName, metricsNamespace, metricUnit } from './resources.ts';

// Counts, latencies and costs for alarms and dashboards, written as embedded-metric-format log
// lines that CloudWatch turns into metrics (no API call, no latency). Each call is emitted at once:
// invocations run concurrently in one process locally, and a value must not wait for a flush that
// never comes.

const options = {
  namespace: metricsNamespace(process.env.STAGE ?? 'local'),
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'parley',
};

const UNITS = { Milliseconds: MetricUnit.Milliseconds, None: MetricUnit.NoUnit, Count: MetricUnit.Count };

export type MetricValues = Partial<Record<MetricName, number>>;

/**
 * Records metrics (one line for all of them), so use-cases measure without knowing how. `about`
 * names what was measured (tenant, bot, document): metadata on the line, not dimensions, so Logs
 * Insights can sum a tenant's cost while CloudWatch keeps one series per metric.
 */
export type RecordMetrics = (values: MetricValues, about?: Readonly<Record<string, string>>) => void;

/** A counter: `record({[name]: value})`. */
export type CountMetric = (name: MetricName, value?: number) => void;

export const recordMetrics: RecordMetrics = (values, about = {}) => {
  const present = (Object.entries(values) as [MetricName, number | undefined][]).filter(
    (entry): entry is [MetricName, number] => entry[1] !== undefined && Number.isFinite(entry[1]),
  );
  // Powertools warns about a line without metrics; there is nothing to say then.
  if (present.length === 0) return;
  // An instance of its own per line: a shared one would mix concurrent invocations' values.
  const line = new Metrics(options);
  for (const [name, value] of present) line.addMetric(name, UNITS[metricUnit(name)], value);
  for (const [name, value] of Object.entries(about)) line.addMetadata(name, value);
  line.publishStoredMetrics();
};

export const countMetric: CountMetric = (name, value = 1) => recordMetrics({ [name]: value });

/** Milliseconds from one `performance.now()` to another (default: now), to 0.1 ms. */
export const msBetween = (start: number, end = performance.now()) => Math.round((end - start) * 10) / 10;
