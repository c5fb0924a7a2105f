import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { type MetricName, metricsNamespace } from './resources.ts';

// Counts for alarms and dashboards, written as embedded-metric-format log lines that CloudWatch
// turns into metrics (no API call, no latency). Each count is emitted at once: invocations run
// concurrently in one process locally, and a count must not wait for a flush that never comes.

const metrics = new Metrics({
  namespace: metricsNamespace(process.env.STAGE ?? 'local'),
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'parley',
});

/** A counter, so use-cases count without knowing how. */
export type CountMetric = (name: MetricName, value?: number) => void;

export const countMetric: CountMetric = (name, value = 1) => {
  metrics.singleMetric().addMetric(name, MetricUnit.Count, value);
};
