import { App, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { type ParleyConfigInput, parseConfig } from '../../lib/config.ts';
import { ParleyStack } from '../../lib/parley-stack.ts';
import {
  type FunctionDefinition,
  functions,
  type ResourceDefinitions,
  resources,
  routes,
} from '../../shared/resources.ts';

// cdk-nag 3 runs as a CDK policy-validation plugin (not an Aspect): findings no longer surface as
// annotations but in the validation report, and acknowledged findings are left out. The tests call
// the pack's `validateScope()` directly, and check through `app.synth()` that the plugin really
// fails a synth on an unacknowledged finding.

/**
 * Resource definitions that exercise every kind of grant the stack can make (so every kind of
 * acknowledgment is checked): a queue consumer that writes the vector index and uses every bucket
 * access and model, a streaming function behind a route, and an admin that reads the index.
 */
const worker: FunctionDefinition = {
  entry: functions.admin.entry,
  memoryMb: 1024,
  timeoutSeconds: 60,
  streaming: false,
  tables: ['tenants', 'usage'],
  sendsTo: ['embed'],
  consumes: { queue: 'ingest', batchSize: 5, maxConcurrency: 2 },
  buckets: { documents: ['read', 'put', 'delete', 'list'] },
  search: 'write',
  models: ['embedding', 'chat', 'rerank'],
};
const streamer: FunctionDefinition = {
  ...functions.admin,
  streaming: true,
  search: 'read',
  models: ['embedding', 'chat', 'rerank'],
};
const everyGrant = {
  ...resources,
  functions: {
    ...resources.functions,
    admin: { ...functions.admin, search: 'read', models: ['embedding', 'rerank'] },
    worker,
    streamer,
  },
  routes: [
    ...routes,
    { method: 'POST', path: '/example/{botId}/stream', function: 'streamer', auth: 'none' },
  ],
} as unknown as ResourceDefinitions;

function build(config: ParleyConfigInput = {}, definitions?: ResourceDefinitions) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const parsed = parseConfig(config);
  const stack = new ParleyStack(app, `Parley-${parsed.stage}`, { config: parsed, resources: definitions });
  return { app, stack };
}

/** Findings as `rule @ construct path`, for readable failures. */
function findings(scope: IConstruct, pack = new AwsSolutionsChecks()): string[] {
  return pack
    .validateScope(scope)
    .violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.severity} ${v.ruleName} @ ${r.constructPath}`),
    );
}

/** Every acknowledgment in the tree: construct path, rule id (without CDK's prefix), reason. */
function acknowledgments(scope: IConstruct): { path: string; id: string; reason: string }[] {
  return scope.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

const cases: [string, ParleyConfigInput, ResourceDefinitions | undefined][] = [
  ['default config', {}, undefined],
  [
    'every config toggle on',
    {
      stage: 'prod',
      alarmEmail: 'oncall@example.com',
      publicBaseUrl: 'https://chat.example.com',
      openSearch: { instanceCount: 2, zoneAwareness: true, dedicatedMasterCount: 3 },
    },
    undefined,
  ],
  ['every kind of grant', {}, everyGrant],
  ['reranking off', { rerankModelId: 'none' }, everyGrant],
  [
    'the openai embedding provider',
    {
      embeddingProvider: 'openai',
      openAiSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:parley-openai-AbC123',
    },
    everyGrant,
  ],
];

const built = new Map<string, ReturnType<typeof build>>();
beforeAll(() => {
  for (const [name, config, definitions] of cases) built.set(name, build(config, definitions));
});
const get = (name: string) => built.get(name) as ReturnType<typeof build>;

describe.each(cases.map(([name]) => name))('AwsSolutions with %s', (name) => {
  it('has no unacknowledged findings (errors or warnings)', () => {
    expect(findings(get(name).stack)).toEqual([]);
  });

  it('has no CDK warnings or errors', () => {
    const annotations = Annotations.fromStack(get(name).stack);
    expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
  });

  it('gives every acknowledgment a specific reason', () => {
    const acks = acknowledgments(get(name).stack);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect({ id: ack.id, length: ack.reason.trim().length >= 20 }).toEqual({ id: ack.id, length: true });
    }
  });

  it('acknowledges only findings that exist (no stale acknowledgments)', () => {
    // The same pack with acknowledgments ignored lists every finding the stack would have.
    const pack = new AwsSolutionsChecks();
    (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
    const raw = pack.validateScope(get(name).stack).violations;
    for (const ack of acknowledgments(get(name).stack)) {
      const covered = raw.some(
        (v) =>
          v.ruleName === ack.id &&
          v.violatingResources.some(
            (r) => r.constructPath === ack.path || (r.constructPath ?? '').startsWith(`${ack.path}/`),
          ),
      );
      expect({ ack: `${ack.id} @ ${ack.path}`, covered }).toEqual({
        ack: `${ack.id} @ ${ack.path}`,
        covered: true,
      });
    }
  });
});

describe('the cdk-nag plugin in a synth', () => {
  it('lets the app synthesize when every finding is fixed or acknowledged', () => {
    const { app } = build();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
  });

  it('fails the synth on an unacknowledged finding', () => {
    const { app, stack } = build();
    // A queue without a dead-letter queue, SSL enforcement or an acknowledgment.
    new sqs.Queue(Stack.of(stack), 'Unchecked');
    expect(findings(stack)).toEqual(
      expect.arrayContaining([expect.stringMatching(/AwsSolutions-SQS3 @ Parley-dev\/Unchecked/)]),
    );
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS3/);
  });
});

describe('the distribution’s acknowledgments say what the template does', () => {
  const distributionAck = (id: string) => {
    const { stack } = get('default config');
    const acks = acknowledgments(stack).filter((ack) => ack.id === id && ack.path.endsWith('/Distribution'));
    expect(acks).toHaveLength(1);
    return { template: Template.fromStack(stack), reason: acks[0]?.reason ?? '' };
  };

  it('CFR2: the WAF sits on the API stage, which the distribution’s API paths reach', () => {
    const { template, reason } = distributionAck('AwsSolutions-CFR2');
    expect(reason).toMatch(/WAF .*API Gateway stage/);
    const [association] = Object.values(template.findResources('AWS::WAFv2::WebACLAssociation'));
    expect(JSON.stringify(association?.Properties?.ResourceArn)).toMatch(/stages/);
  });

  it('CFR4: the default certificate allows old TLS, and no context value sets a custom domain yet', () => {
    const { template, reason } = distributionAck('AwsSolutions-CFR4');
    expect(reason).toMatch(/default \*\.cloudfront\.net certificate.*no context value/);
    const [distribution] = Object.values(template.findResources('AWS::CloudFront::Distribution'));
    expect(distribution?.Properties?.DistributionConfig?.ViewerCertificate).toBeUndefined();
    expect(distribution?.Properties?.DistributionConfig?.Aliases).toBeUndefined();
  });
});
