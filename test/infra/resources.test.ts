import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { parseConfig } from '../../lib/config.ts';
import { ParleyStack } from '../../lib/parley-stack.ts';
import {
  type FunctionName,
  functions,
  queueName,
  queues,
  type ResourceDefinitions,
  resources,
  routes,
  tables,
} from '../../shared/resources.ts';

// The CDK stack and the local platform both build from one `ResourceDefinitions` value (the real
// one by default). Changing a copy of it must change what both of them create.

type Resource = { Type: string; Properties: Record<string, unknown> };

function build(definitions?: ResourceDefinitions) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new ParleyStack(app, 'Parley-dev', { config: parseConfig({}), resources: definitions });
  return { stack, template: Template.fromStack(stack) };
}

/** `METHOD /full/path` → the function logical id the method integrates with, from the template. */
function methodsOf(template: Template): Map<string, string> {
  const json = template.toJSON() as { Resources: Record<string, Resource> };
  const paths = new Map<string, string>();
  const pathOf = (id: string): string => {
    const cached = paths.get(id);
    if (cached !== undefined) return cached;
    const resource = json.Resources[id] as Resource;
    const parent = resource.Properties.ParentId as { Ref?: string };
    const path = `${parent.Ref ? pathOf(parent.Ref) : ''}/${resource.Properties.PathPart as string}`;
    paths.set(id, path);
    return path;
  };
  const methods = new Map<string, string>();
  for (const resource of Object.values(json.Resources)) {
    if (resource.Type !== 'AWS::ApiGateway::Method') continue;
    const resourceId = resource.Properties.ResourceId as { Ref?: string };
    const path = resourceId.Ref ? pathOf(resourceId.Ref) : '/';
    const integration = resource.Properties.Integration as { Type: string; Uri: unknown };
    const target = JSON.stringify(integration.Uri).match(/"Fn::GetAtt":\["([A-Za-z0-9]+)","Arn"\]/)?.[1];
    expect(integration.Type).toBe('AWS_PROXY');
    methods.set(`${resource.Properties.HttpMethod as string} ${path}`, target ?? '');
  }
  return methods;
}

/** A copy of the definitions with a changed queue timeout, table key, redrive count and an added route. */
const modified = {
  ...resources,
  tables: { ...tables, tenants: { ...tables.tenants, partitionKey: { name: 'tenantPk', type: 'S' } } },
  queues: { ...queues, embed: { ...queues.embed, visibilityTimeoutSeconds: 400, maxReceiveCount: 9 } },
  routes: [...routes, { method: 'GET', path: '/admin/example', function: 'admin', auth: 'tenant' }],
} satisfies ResourceDefinitions;

let original: ReturnType<typeof build>;
let changed: ReturnType<typeof build>;
beforeAll(() => {
  original = build();
  changed = build(modified);
});

describe('the stack reads shared/resources.ts', () => {
  it('builds from the shared `resources` value by default', () => {
    expect(original.stack.resources).toBe(resources);
    expect(resources).toEqual({ tables, queues, buckets: resources.buckets, functions, routes });
  });

  it('creates exactly one proxy method per route, integrated with the route’s function', () => {
    const methods = methodsOf(original.template);
    const functionIds = Object.fromEntries(
      (Object.keys(functions) as FunctionName[]).map((name) => [
        name,
        original.stack.getLogicalId(
          original.stack.functions.functions[name].node.defaultChild as CfnFunction,
        ),
      ]),
    );
    expect([...methods.keys()].sort()).toEqual(routes.map((r) => `${r.method} ${r.path}`).sort());
    for (const route of routes)
      expect(methods.get(`${route.method} ${route.path}`)).toBe(functionIds[route.function]);
  });

  it('shows a changed visibility timeout and redrive count in the template', () => {
    changed.template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: queueName('parley-dev', 'embed', queues.embed),
      VisibilityTimeout: 400,
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 9 }),
    });
    original.template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: queueName('parley-dev', 'embed', queues.embed),
      VisibilityTimeout: queues.embed.visibilityTimeoutSeconds,
    });
  });

  it('shows a changed key name in the template', () => {
    changed.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'tenantPk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    });
    expect(JSON.stringify(original.template.toJSON())).not.toContain('tenantPk');
  });

  it('shows an added route in the template', () => {
    expect(methodsOf(changed.template).has('GET /admin/example')).toBe(true);
    expect(methodsOf(original.template).has('GET /admin/example')).toBe(false);
  });

  it('rejects a consumer whose queue would redeliver while the function still runs', () => {
    const tooShort = {
      ...resources,
      functions: {
        ...functions,
        admin: {
          ...functions.admin,
          timeoutSeconds: 900,
          consumes: { queue: 'reply', batchSize: 1, maxConcurrency: 2 },
        },
      },
    } satisfies ResourceDefinitions;
    expect(() => build(tooShort)).toThrow(
      `queues.reply.visibilityTimeoutSeconds (${resources.queues.reply.visibilityTimeoutSeconds}) must be at least functions.admin.timeoutSeconds (900)`,
    );
  });
});
