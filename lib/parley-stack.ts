import { CfnOutput, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { chunkIndexName } from '../shared/adapters/vector/index-name.ts';
import { ORIGIN_SECRET_ENV } from '../shared/http/edge.ts';
import { resources as defaultResources, type ResourceDefinitions } from '../shared/resources.ts';
import type { ParleyConfig } from './config.ts';
import { Api } from './constructs/api.ts';
import { Data } from './constructs/data.ts';
import { Functions } from './constructs/functions.ts';
import { Monitoring } from './constructs/monitoring.ts';
import { entries, pascal } from './constructs/names.ts';
import { Queues } from './constructs/queues.ts';
import { Search } from './constructs/search.ts';
import { Secrets } from './constructs/secrets.ts';
import { Web } from './constructs/web.ts';

export interface ParleyStackProps extends StackProps {
  readonly config: ParleyConfig;
  /** The resource definitions to build from; the real ones (shared/resources.ts) by default. */
  readonly resources?: ResourceDefinitions;
}

/**
 * CDK feature flags this stack is written against (the values `cdk init` recommends), set on the
 * stack itself so the stack synthesizes the same way in any app: `cdk synth`, tests, other apps.
 */
export const FEATURE_FLAGS: Readonly<Record<string, boolean>> = {
  '@aws-cdk/aws-iam:minimizePolicies': true,
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  '@aws-cdk/aws-s3:createDefaultLoggingPolicy': true,
  '@aws-cdk/aws-s3:publicAccessBlockedByDefault': true,
  '@aws-cdk/aws-apigateway:logGroupDestinationArnWithoutWildcard': true,
  '@aws-cdk/core:checkSecretUsage': true,
  '@aws-cdk/core:enablePartitionLiterals': true,
  '@aws-cdk/core:includePrefixInUniqueNameGeneration': true,
};

export class ParleyStack extends Stack {
  readonly config: ParleyConfig;
  readonly resources: ResourceDefinitions;
  readonly data: Data;
  readonly queues: Queues;
  readonly search: Search;
  readonly secrets: Secrets;
  readonly functions: Functions;
  readonly api: Api;
  readonly monitoring: Monitoring;
  readonly web: Web;

  constructor(scope: Construct, id: string, props: ParleyStackProps) {
    super(scope, id, {
      description: `Parley (${props.config.stage}): multi-tenant AI chatbot builder`,
      ...props,
    });
    for (const [flag, value] of Object.entries(FEATURE_FLAGS)) this.node.setContext(flag, value);

    const config = props.config;
    const resources = props.resources ?? defaultResources;
    this.config = config;
    this.resources = resources;
    Tags.of(this).add('project', 'parley');
    Tags.of(this).add('stage', config.stage);
    const logRetention = config.logRetentionDays as logs.RetentionDays;

    this.secrets = new Secrets(this, 'Secrets', { stage: config.stage });
    this.queues = new Queues(this, 'Queues', {
      namePrefix: `parley-${config.stage}`,
      queues: resources.queues,
    });
    this.data = new Data(this, 'Data', {
      tables: resources.tables,
      buckets: resources.buckets,
      queues: this.queues.queues,
    });
    this.search = new Search(this, 'Search', {
      stage: config.stage,
      // The name the OpenSearch adapter gives the index of this embedding model and dimension.
      indexName: chunkIndexName(config.embeddingModelId, config.embeddingDimension),
      openSearch: config.openSearch,
      logRetention,
    });
    this.functions = new Functions(this, 'Functions', {
      config,
      resources,
      tables: this.data.tables,
      queues: this.queues.queues,
      buckets: this.data.buckets,
      search: this.search,
      operatorKey: this.secrets.operatorKey,
      channelKey: this.secrets.channelKey,
      logRetention,
    });
    this.api = new Api(this, 'Api', {
      stage: config.stage,
      routes: resources.routes,
      functionDefinitions: resources.functions,
      functions: this.functions.functions,
      apiThrottle: config.apiThrottle,
      wafRateLimit: config.wafRateLimit,
      wafTenantRateLimit: config.wafTenantRateLimit,
      originSecretVersionId: config.originSecretVersionId,
      logRetention,
    });
    this.trustEdge();
    this.web = new Web(this, 'Web', {
      api: this.api.restApi,
      documentsBucket: this.data.buckets.documents,
      accessLogsBucket: this.data.accessLogsBucket,
      originSecret: this.api.originSecretValue,
    });
    this.monitoring = new Monitoring(this, 'Monitoring', {
      stage: config.stage,
      alarmEmail: config.alarmEmail,
      alarmHttpsEndpoint: config.alarmHttpsEndpoint,
      functions: this.functions.functions,
      queues: this.queues.queues,
      deadLetterQueues: this.queues.deadLetterQueues,
      api: this.api.restApi,
      routes: resources.routes,
      searchDomain: this.search.domain,
      searchVolumeGb: config.openSearch.volumeSizeGb,
    });
    this.functions.notifyOnCall(this.monitoring.topic, resources.functions);

    this.addOutputs();
  }

  /**
   * The chat functions trust CloudFront's forwarded headers only with the origin secret
   * (shared/http/edge.ts), resolved in their environment: a Secrets Manager read would cost every
   * cold start.
   */
  private trustEdge(): void {
    for (const name of ['chat', 'chat-stream'] as const) {
      this.functions.functions[name].addEnvironment(
        ORIGIN_SECRET_ENV,
        this.api.originSecretValue.unsafeUnwrap(),
      );
    }
  }

  /** What an operator needs after `cdk deploy`: the URLs, the operator key's secret, the buckets, the topic. */
  private addOutputs(): void {
    new CfnOutput(this, 'ApiUrl', { value: this.api.restApi.url, description: 'Base URL of the REST API' });
    new CfnOutput(this, 'WebUrl', {
      value: `https://${this.web.distribution.distributionDomainName}`,
      description: 'The console (/), hosted chat pages (/b/<botId>), the widget (/widget.js), and the API',
    });
    new CfnOutput(this, 'OperatorKeySecretArn', {
      value: this.secrets.operatorKey.secretArn,
      description: 'Secrets Manager secret holding the operator key (aws secretsmanager get-secret-value)',
    });
    for (const [name, bucket] of entries(this.data.buckets)) {
      new CfnOutput(this, `${pascal(name)}BucketName`, { value: bucket.bucketName });
    }
    new CfnOutput(this, 'OnCallTopicArn', {
      value: this.monitoring.topic.topicArn,
      description: 'SNS topic the alarms notify; subscribe on-call endpoints to it',
    });
    new CfnOutput(this, 'SearchEndpoint', { value: this.search.endpointUrl });
  }
}
