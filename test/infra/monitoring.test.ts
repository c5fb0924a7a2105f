// What pages on-call: an alarm per function (errors, throttles), per queue (age) and dead-letter
// queue (depth), on the API (5xx, p99 latency), the search domain (red, yellow, storage, JVM) and
// Parley's own counts (unconfirmed replies, model fallbacks, reply failures); each notifying the
// topic and linking to its runbook section. The dashboard, the WAF and the pager subscription.

import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { REPO_ROOT } from '../../lib/constructs/functions.ts';
import { API_P99_LIMIT_MS, QUEUE_AGE_LIMITS } from '../../lib/constructs/monitoring.ts';
import type { ParleyStack } from '../../lib/parley-stack.ts';
import { functions, metricNames, metricsNamespace, queues, routes } from '../../shared/resources.ts';
import { build, logicalId } from './template.ts';

let stack: ParleyStack;
let template: Template;

beforeAll(() => {
  ({ stack, template } = build());
});

interface Alarm {
  Namespace?: string;
  MetricName?: string;
  Threshold: number;
  ComparisonOperator: string;
  EvaluationPeriods: number;
  AlarmDescription: string;
  AlarmActions: unknown[];
  OKActions: unknown[];
  Dimensions?: { Name: string; Value: unknown }[];
}
const alarms = () =>
  Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
    (a) => (a as { Properties: Alarm }).Properties,
  );
const withMetric = (namespace: string, name: string) =>
  alarms().filter((a) => a.Namespace === namespace && a.MetricName === name);

describe('alarms', () => {
  it('every alarm notifies the on-call topic when it fires and when it clears, and links to the runbook', () => {
    const topic = { Ref: logicalId(stack, stack.monitoring.topic) };
    const runbook = readFileSync(`${REPO_ROOT}docs/RUNBOOK.md`, 'utf8');
    const sections = new Set([...runbook.matchAll(/^## (\S+)/gm)].map((m) => m[1]));
    for (const alarm of alarms()) {
      expect(alarm.AlarmActions).toEqual([topic]);
      expect(alarm.OKActions).toEqual([topic]);
      const anchor = /RUNBOOK\.md#(\S+)/.exec(alarm.AlarmDescription)?.[1];
      expect({ alarm: alarm.AlarmDescription, section: sections.has(anchor ?? '') }).toMatchObject({
        section: true,
      });
    }
  });

  it('per function: errors and throttles, any in 5 minutes', () => {
    const count = Object.keys(functions).length;
    for (const name of ['Errors', 'Throttles']) {
      const found = withMetric('AWS/Lambda', name);
      expect(found).toHaveLength(count);
      for (const alarm of found)
        expect([alarm.Threshold, alarm.ComparisonOperator]).toEqual([1, 'GreaterThanOrEqualToThreshold']);
    }
  });

  it('per queue: the age of its oldest message over its limit for 5 minutes; per dead-letter queue: any message', () => {
    const ages = withMetric('AWS/SQS', 'ApproximateAgeOfOldestMessage');
    expect(ages.map((a) => a.Threshold).sort((a, b) => a - b)).toEqual(
      Object.keys(queues)
        .map((q) => QUEUE_AGE_LIMITS[q as keyof typeof QUEUE_AGE_LIMITS])
        .sort((a, b) => a - b),
    );
    for (const alarm of ages) expect(alarm.EvaluationPeriods).toBe(5);
    expect(withMetric('AWS/SQS', 'ApproximateNumberOfMessagesVisible')).toHaveLength(
      Object.keys(queues).length,
    );
  });

  it('on the API: any 5xx, and p99 latency over the limit for 15 minutes', () => {
    expect(withMetric('AWS/ApiGateway', '5XXError')).toHaveLength(1);
    const [latency] = withMetric('AWS/ApiGateway', 'Latency');
    expect(latency).toMatchObject({ Threshold: API_P99_LIMIT_MS, EvaluationPeriods: 3 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Latency',
      ExtendedStatistic: 'p99',
    });
  });

  it('on the search domain: red at once, yellow for 15 minutes, storage under 20 %, JVM pressure over 85 %', () => {
    const es = (name: string) => withMetric('AWS/ES', name)[0];
    expect(es('ClusterStatus.red')).toMatchObject({ Threshold: 1, EvaluationPeriods: 1 });
    expect(es('ClusterStatus.yellow')).toMatchObject({ Threshold: 1, EvaluationPeriods: 15 });
    expect(es('FreeStorageSpace')).toMatchObject({
      Threshold: Math.round(10 * 1024 * 0.2),
      ComparisonOperator: 'LessThanOrEqualToThreshold',
    });
    expect(es('JVMMemoryPressure')).toMatchObject({ Threshold: 85, EvaluationPeriods: 3 });
  });

  it('on Parley’s own counts: any unconfirmed reply; 5 model fallbacks, failed searches or reply failures in 5 minutes', () => {
    const namespace = metricsNamespace(stack.config.stage);
    const own = (name: string) => withMetric(namespace, name)[0];
    expect(own(metricNames.unconfirmedReplies)).toMatchObject({ Threshold: 1 });
    expect(own(metricNames.modelFallbacks)).toMatchObject({ Threshold: 5 });
    expect(own(metricNames.retrievalFailures)).toMatchObject({ Threshold: 5 });
    expect(own(metricNames.replyFailures)).toMatchObject({ Threshold: 5 });
    for (const name of [
      metricNames.unconfirmedReplies,
      metricNames.modelFallbacks,
      metricNames.retrievalFailures,
      metricNames.replyFailures,
    ]) {
      expect(own(name)?.Dimensions).toEqual([{ Name: 'service', Value: 'parley' }]);
      expect(own(name)).toMatchObject({ Statistic: 'Sum', Period: 300 });
    }
  });
});

describe('dashboard, firewall and pager', () => {
  it('has a dashboard of the golden signals', () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard')) as {
      Properties: { DashboardName: string; DashboardBody: unknown };
    }[];
    expect(dashboard?.Properties.DashboardName).toBe(`parley-${stack.config.stage}`);
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const title of [
      'API requests',
      'API latency p50 / p99',
      'Errors by function',
      'Pipeline age of oldest message',
      'Channel replies',
      'Search domain',
      'Chat stages p99 (ms)',
      'Ingestion stages p99 (ms)',
      'p99 latency by route (ms)',
    ]) {
      expect(body).toContain(title);
    }
    // Every metric Parley emits is on it, and every route but the preflights.
    for (const name of Object.values(metricNames))
      expect([name, new RegExp(`\\b${name}\\b`).test(body)]).toEqual([name, true]);
    for (const route of routes.filter((r) => r.method !== 'OPTIONS')) {
      expect(body).toContain(`${route.method} ${route.path}`);
    }
  });

  it('puts a WAF in front of the API: the origin secret, a rate limit per viewer, and AWS’s managed rules', () => {
    template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      Rules: Match.arrayWith([
        Match.objectLike({ Name: 'require-origin-secret', Priority: 0 }),
        Match.objectLike({
          Name: 'rate-per-viewer',
          Action: { Block: {} },
          Statement: {
            RateBasedStatement: Match.objectLike({
              Limit: 3000,
              AggregateKeyType: 'FORWARDED_IP',
              // Set by CloudFront's edge function (test/infra/edge.test.ts).
              ForwardedIPConfig: { HeaderName: 'x-parley-viewer-ip', FallbackBehavior: 'NO_MATCH' },
            }),
          },
        }),
        Match.objectLike({ Name: 'AWSManagedRulesKnownBadInputsRuleSet' }),
        Match.objectLike({ Name: 'AWSManagedRulesAmazonIpReputationList' }),
      ]),
    });
    template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
  });

  it('subscribes a pager’s HTTPS endpoint when configured, and takes the WAF limit from config', () => {
    const toggled = build({
      alarmHttpsEndpoint: 'https://events.pager.example.com/parley',
      wafRateLimit: 500,
    });
    toggled.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'https',
      Endpoint: 'https://events.pager.example.com/parley',
    });
    toggled.template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Rules: Match.arrayWith([
        Match.objectLike({
          Name: 'rate-per-viewer',
          Statement: { RateBasedStatement: Match.objectLike({ Limit: 500 }) },
        }),
      ]),
    });
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});
