import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { metricNames, metricsNamespace } from '../../shared/resources.ts';
import { entries, pascal } from './names.ts';

export interface MonitoringProps {
  readonly stage: string;
  readonly alarmEmail?: string;
  readonly functions: Record<string, lambda.IFunction>;
  readonly deadLetterQueues: Record<string, sqs.IQueue>;
  readonly api: apigateway.RestApi;
}

/** The on-call topic and the alarms that notify it. */
export class Monitoring extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);

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
    this.topic = new sns.Topic(this, 'OnCallTopic', {
      displayName: `Parley ${props.stage} on-call`,
      masterKey: key,
      enforceSSL: true,
    });
    if (props.alarmEmail) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }

    for (const [name, fn] of entries(props.functions)) {
      this.alarm(`${pascal(name)}Errors`, {
        metric: fn.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
        description: `The ${name} function threw (unhandled errors or timeouts) in the last 5 minutes.`,
      });
    }
    for (const [name, queue] of entries(props.deadLetterQueues)) {
      this.alarm(`${pascal(name)}DeadLetters`, {
        metric: queue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
        description: `Messages are waiting in the ${name} dead-letter queue: they failed every retry.`,
      });
    }
    // A reply that may have reached a user twice or not at all: someone should look at the logs.
    this.alarm('UnconfirmedReplies', {
      metric: new cloudwatch.Metric({
        namespace: metricsNamespace(props.stage),
        metricName: metricNames.unconfirmedReplies,
        dimensionsMap: { service: 'parley' },
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.SUM,
      }),
      description:
        'A channel reply was not confirmed (the worker stopped mid-send, or the platform did not answer): it was not resent.',
    });
    this.alarm('Api5xx', {
      metric: props.api.metricServerError({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      description: 'The API answered with 5XX errors in the last 5 minutes.',
    });
  }

  /** An alarm on `metric >= 1` that notifies the on-call topic. */
  private alarm(id: string, props: { metric: cloudwatch.IMetric; description: string }): void {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric: props.metric,
      alarmDescription: props.description,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    alarm.addOkAction(new actions.SnsAction(this.topic));
    this.alarms.push(alarm);
  }
}
