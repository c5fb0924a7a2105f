import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as opensearch from 'aws-cdk-lib/aws-opensearchservice';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  metricNames,
  metricsNamespace,
  type QueueName,
  type RouteDefinition,
} from '../../shared/resources.ts';
import { entries, pascal } from './names.ts';

export interface MonitoringProps {
  readonly stage: string;
  readonly alarmEmail?: string;
  /** A pager's HTTPS endpoint (PagerDuty, Opsgenie…). */
  readonly alarmHttpsEndpoint?: string;
  readonly functions: Record<string, lambda.IFunction>;
  readonly queues: Record<QueueName, sqs.IQueue>;
  readonly deadLetterQueues: Record<string, sqs.IQueue>;
  readonly api: apigateway.RestApi;
  /** The API's routes, for the per-route widgets. */
  readonly routes: readonly RouteDefinition[];
  readonly searchDomain: opensearch.Domain;
  /** The search domain's EBS volume per node, to alarm on free storage as a share of it. */
  readonly searchVolumeGb: number;
}

/** How old a queue's oldest message may get before someone should look (seconds). */
export const QUEUE_AGE_LIMITS: Record<QueueName, number> = {
  // A channel user is waiting for each reply.
  reply: 300,
  // Documents take minutes; half an hour of backlog means the pipeline is stuck or starved.
  ingest: 1800,
  embed: 1800,
  // A tenant watches the run's status; a run takes seconds, and gives up after 30 minutes.
  evaluate: 900,
};

/** API p99 latency that pages (ms): chat turns take model time (up to 25 s with retries). */
export const API_P99_LIMIT_MS = 20_000;

/** What each alarm means and what to do first; docs/RUNBOOK.md has the full steps. */
const RUNBOOK = 'See docs/RUNBOOK.md';

/** One of Parley's own metrics (namespaced by stage), over five minutes. */
type OwnMetric = (metricName: string, statistic?: string) => cloudwatch.Metric;

/** A dashboard row's widget: a graph, a third of the width. */
const graph = (title: string, left: cloudwatch.IMetric[], width = 8) =>
  new cloudwatch.GraphWidget({ title, left, width, height: 6 });

/** The on-call topic, the alarms that notify it, and the dashboard. */
export class Monitoring extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.topic = this.onCallTopic(props);
    this.serviceAlarms(props);
    this.searchAlarms(props.searchDomain, props.searchVolumeGb);
    const own: OwnMetric = (metricName, statistic = cloudwatch.Stats.SUM) =>
      new cloudwatch.Metric({
        namespace: metricsNamespace(props.stage),
        metricName,
        dimensionsMap: { service: 'parley' },
        period: Duration.minutes(5),
        statistic,
      });
    this.ownAlarms(own);
    this.dashboard = this.goldenSignals(props, own);
  }

  /** The topic the alarms notify, with the email and pager subscriptions configured. */
  private onCallTopic(props: MonitoringProps): sns.Topic {
    // CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS key: the key
    // must be a customer-managed one whose policy lets CloudWatch use it.
    const key = new kms.Key(this, 'TopicKey', {
      description: `Parley ${props.stage}: encrypts the on-call topic`,
      enableKeyRotation: true,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    const topic = new sns.Topic(this, 'OnCallTopic', {
      displayName: `Parley ${props.stage} on-call`,
      masterKey: key,
      enforceSSL: true,
    });
    if (props.alarmEmail) {
      topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }
    if (props.alarmHttpsEndpoint) {
      topic.addSubscription(new subscriptions.UrlSubscription(props.alarmHttpsEndpoint));
    }
    return topic;
  }

  /** Per function (errors, throttles), per queue (age) and dead-letter queue (depth), and the API's. */
  private serviceAlarms(props: MonitoringProps): void {
    const fiveMinutes = { period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM };
    for (const [name, fn] of entries(props.functions)) {
      this.alarm(`${pascal(name)}Errors`, {
        metric: fn.metricErrors(fiveMinutes),
        description: `The ${name} function threw (unhandled errors or timeouts) in the last 5 minutes. First: its log group, filtered on "ERROR". ${RUNBOOK}#function-errors`,
      });
      this.alarm(`${pascal(name)}Throttles`, {
        metric: fn.metricThrottles(fiveMinutes),
        description: `The ${name} function was throttled (account or reserved concurrency reached). First: the account's concurrency usage. ${RUNBOOK}#function-throttles`,
      });
    }
    for (const [name, queue] of entries(props.deadLetterQueues)) {
      this.alarm(`${pascal(name)}DeadLetters`, {
        metric: queue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
        description: `Messages are waiting in the ${name} dead-letter queue: they failed every retry. First: read one, then the consumer's log for its message id. ${RUNBOOK}#dead-letters`,
      });
    }
    for (const [name, queue] of entries(props.queues)) {
      const limit = QUEUE_AGE_LIMITS[name];
      this.alarm(`${pascal(name)}QueueAge`, {
        metric: queue.metricApproximateAgeOfOldestMessage({
          period: Duration.minutes(1),
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
        threshold: limit,
        evaluationPeriods: 5,
        description: `The oldest message on the ${name} queue has waited over ${limit} s for 5 minutes: its consumer is failing, throttled or too slow. ${RUNBOOK}#queue-age`,
      });
    }
    this.alarm('Api5xx', {
      metric: props.api.metricServerError(fiveMinutes),
      description: `The API answered with 5XX errors in the last 5 minutes. First: the API's access log (status 5xx) and the functions' errors. ${RUNBOOK}#api-5xx`,
    });
    this.alarm('ApiLatencyP99', {
      metric: props.api.metricLatency({ period: Duration.minutes(5), statistic: cloudwatch.Stats.p(99) }),
      threshold: API_P99_LIMIT_MS,
      evaluationPeriods: 3,
      description: `The API's p99 latency has been over ${API_P99_LIMIT_MS / 1000} s for 15 minutes: a model provider, DynamoDB or the search domain is slow. ${RUNBOOK}#api-latency`,
    });
  }

  /** The search domain: red, yellow for long, short of storage, short of JVM memory. */
  private searchAlarms(domain: opensearch.Domain, volumeGb: number): void {
    this.alarm('SearchClusterRed', {
      metric: domain.metricClusterStatusRed({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      description: `The search domain is red: some primary shards are unassigned and searches fail. ${RUNBOOK}#search-red`,
    });
    this.alarm('SearchClusterYellow', {
      metric: domain.metricClusterStatusYellow({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      evaluationPeriods: 15,
      description: `The search domain has been yellow for 15 minutes: replica shards are unassigned. ${RUNBOOK}#search-yellow`,
    });
    const freeStorageMb = Math.round(volumeGb * 1024 * 0.2);
    this.alarm('SearchFreeStorage', {
      metric: domain.metricFreeStorageSpace({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MINIMUM,
      }),
      threshold: freeStorageMb,
      comparison: cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
      description: `A search node has under 20 % of its storage free (${freeStorageMb} MB): indexing stops when it runs out. ${RUNBOOK}#search-storage`,
    });
    this.alarm('SearchJvmPressure', {
      metric: domain.metricJVMMemoryPressure({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 85,
      evaluationPeriods: 3,
      description: `The search domain's JVM memory pressure has been over 85 % for 15 minutes: searches will slow, then fail. ${RUNBOOK}#search-jvm`,
    });
  }

  /** Parley's own counts of what went wrong for users. */
  private ownAlarms(own: OwnMetric): void {
    // A reply that may have reached a user twice or not at all: someone should look at the logs.
    this.alarm('UnconfirmedReplies', {
      metric: own(metricNames.unconfirmedReplies),
      description: `A channel reply was not confirmed (the worker stopped mid-send, or the platform did not answer): it was not resent. ${RUNBOOK}#unconfirmed-replies`,
    });
    this.alarm('ModelFallbacks', {
      metric: own(metricNames.modelFallbacks),
      threshold: 5,
      description: `At least 5 chat turns in 5 minutes got the fallback message: a model provider is failing. ${RUNBOOK}#model-fallbacks`,
    });
    this.alarm('RetrievalFailures', {
      metric: own(metricNames.retrievalFailures),
      threshold: 5,
      description: `At least 5 chat turns in 5 minutes could not search the bot's documents (the search domain or the embedding model failing) and got the fallback message. ${RUNBOOK}#retrieval-failures`,
    });
    this.alarm('ReplyFailures', {
      metric: own(metricNames.replyFailures),
      threshold: 5,
      description: `At least 5 channel replies in 5 minutes were refused or failed on their last attempt. ${RUNBOOK}#reply-failures`,
    });
  }

  /** Traffic, errors, latency and saturation: per API, per function, per queue, and Parley's own counts. */
  private goldenSignals(props: MonitoringProps, own: OwnMetric): cloudwatch.Dashboard {
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: `parley-${props.stage}` });
    for (const row of [...serviceRows(props), ...ownRows(own, props.searchDomain), routeRow(props)])
      dashboard.addWidgets(...row);
    return dashboard;
  }

  /** An alarm on `metric >= threshold` (default 1) that notifies the on-call topic, and again when it clears. */
  private alarm(
    id: string,
    props: {
      metric: cloudwatch.IMetric;
      description: string;
      threshold?: number;
      evaluationPeriods?: number;
      comparison?: cloudwatch.ComparisonOperator;
    },
  ): void {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric: props.metric,
      alarmDescription: props.description,
      threshold: props.threshold ?? 1,
      evaluationPeriods: props.evaluationPeriods ?? 1,
      comparisonOperator:
        props.comparison ?? cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    alarm.addOkAction(new actions.SnsAction(this.topic));
    this.alarms.push(alarm);
  }
}

/** The dashboard's rows on the services: the API, the functions, the queues. */
function serviceRows(props: MonitoringProps): cloudwatch.IWidget[][] {
  const api = props.api;
  const functions = entries(props.functions);
  const queues = entries(props.queues);
  return [
    [
      graph('API requests', [api.metricCount({ period: Duration.minutes(1) })]),
      graph('API errors', [
        api.metricClientError({ period: Duration.minutes(1) }),
        api.metricServerError({ period: Duration.minutes(1) }),
      ]),
      graph('API latency p50 / p99', [
        api.metricLatency({ period: Duration.minutes(1), statistic: cloudwatch.Stats.p(50) }),
        api.metricLatency({ period: Duration.minutes(1), statistic: cloudwatch.Stats.p(99) }),
      ]),
    ],
    [
      graph(
        'Invocations by function',
        functions.map(([, fn]) => fn.metricInvocations()),
      ),
      graph(
        'Errors by function',
        functions.map(([, fn]) => fn.metricErrors()),
      ),
      graph(
        'Duration p99 by function',
        functions.map(([, fn]) => fn.metricDuration({ statistic: cloudwatch.Stats.p(99) })),
      ),
    ],
    [
      graph(
        'Pipeline backlog (visible messages)',
        queues.map(([, q]) => q.metricApproximateNumberOfMessagesVisible()),
      ),
      graph(
        'Pipeline age of oldest message',
        queues.map(([, q]) => q.metricApproximateAgeOfOldestMessage()),
      ),
      graph(
        'Throttles by function',
        functions.map(([, fn]) => fn.metricThrottles()),
      ),
    ],
  ];
}

/** The dashboard's rows on Parley's own counts: replies, chat turns, tokens and cost, ingestion. */
function ownRows(own: OwnMetric, searchDomain: opensearch.Domain): cloudwatch.IWidget[][] {
  const p99 = cloudwatch.Stats.p(99);
  return [
    [
      graph('Channel replies', [
        own(metricNames.repliesSent),
        own(metricNames.replyFailures),
        own(metricNames.repliesLimited),
        own(metricNames.repliesExpired),
        own(metricNames.unconfirmedReplies),
      ]),
      graph('Chat turns, fallbacks, failed searches', [
        own(metricNames.chatTurns),
        own(metricNames.modelFallbacks),
        own(metricNames.retrievalFailures),
      ]),
      graph('Search domain', [
        searchDomain.metricClusterStatusRed(),
        searchDomain.metricClusterStatusYellow(),
        searchDomain.metricJVMMemoryPressure(),
      ]),
    ],
    [
      graph(
        'Chat stages p99 (ms)',
        [
          metricNames.prepareLatency,
          metricNames.modelLatency,
          metricNames.firstTokenLatency,
          metricNames.turnLatency,
        ].map((name) => own(name, p99)),
      ),
      graph('Tokens', [
        own(metricNames.inputTokens),
        own(metricNames.outputTokens),
        own(metricNames.embeddingTokens),
      ]),
      graph('Model cost (USD)', [own(metricNames.chatCostUsd), own(metricNames.quotaWarnings)]),
    ],
    [
      graph('Ingestion', [
        own(metricNames.pagesExtracted),
        own(metricNames.chunksCreated),
        own(metricNames.chunksIndexed),
        own(metricNames.documentsReady),
        own(metricNames.documentsFailed),
      ]),
      graph(
        'Ingestion stages p99 (ms)',
        [metricNames.extractLatency, metricNames.embedLatency, metricNames.indexLatency].map((name) =>
          own(name, p99),
        ),
      ),
      graph('Upload to ready p50 / p99 (ms)', [
        own(metricNames.ingestionLatency, cloudwatch.Stats.p(50)),
        own(metricNames.ingestionLatency, p99),
      ]),
    ],
  ];
}

/** Per route: API Gateway's per-method metrics (the stage has them enabled). Preflights left out. */
function routeRow(props: MonitoringProps): cloudwatch.IWidget[] {
  const api = props.api;
  const perRoute = (metricName: string, statistic: string) =>
    props.routes
      .filter((route) => route.method !== 'OPTIONS')
      .map(
        (route) =>
          new cloudwatch.Metric({
            namespace: 'AWS/ApiGateway',
            metricName,
            dimensionsMap: {
              ApiName: api.restApiName,
              Stage: api.deploymentStage.stageName,
              Resource: route.path,
              Method: route.method,
            },
            period: Duration.minutes(5),
            statistic,
            label: `${route.method} ${route.path}`,
          }),
      );
  return [
    graph('Requests by route', perRoute('Count', cloudwatch.Stats.SUM), 8),
    graph('5xx by route', perRoute('5XXError', cloudwatch.Stats.SUM), 8),
    graph('p99 latency by route (ms)', perRoute('Latency', cloudwatch.Stats.p(99)), 8),
  ];
}
