import type { CfnResource } from 'aws-cdk-lib';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type ParleyConfigInput, parseConfig } from '../../lib/config.ts';
import { ParleyStack } from '../../lib/parley-stack.ts';
import type { ResourceDefinitions } from '../../shared/resources.ts';

// Helpers shared by the infra tests: synthesize a stack without bundling and read its template.

export type Resource = { Type: string; Properties?: Record<string, unknown> };
export type Statement = {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Principal?: unknown;
  Condition?: unknown;
};

/** Synthesizes a stack without bundling (the bundle test builds the real bundles). */
export function build(config: ParleyConfigInput = {}, definitions?: ResourceDefinitions) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const parsed = parseConfig(config);
  const stack = new ParleyStack(app, `Parley-${parsed.stage}`, { config: parsed, resources: definitions });
  return { stack, template: Template.fromStack(stack) };
}

/** The logical id of a construct's CloudFormation resource. */
export function logicalId(stack: ParleyStack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnResource);
}

/** Every statement of every IAM policy attached to the role with this logical id. */
export function roleStatements(template: Template, roleId: string): Statement[] {
  // A role with many statements overflows into managed policies (CDK splits them): those count too.
  const policies = [
    ...Object.values(template.findResources('AWS::IAM::Policy')),
    ...Object.values(template.findResources('AWS::IAM::ManagedPolicy')),
  ] as Resource[];
  return policies
    .filter((policy) => JSON.stringify(policy.Properties?.Roles).includes(`"${roleId}"`))
    .flatMap(
      (policy) =>
        (policy.Properties?.PolicyDocument as { Statement?: Statement[] } | undefined)?.Statement ?? [],
    );
}

export const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/**
 * A CloudFormation value as readable text: `<Logical.Attr>` for GetAtt, `<Name>` for Ref, joins
 * concatenated, e.g. `arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/…`.
 */
export function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) {
    const node = value as Record<string, unknown>;
    const join = node['Fn::Join'];
    if (Array.isArray(join)) {
      const [delimiter, items] = join as [string, unknown[]];
      return items.map(render).join(delimiter);
    }
    const getAtt = node['Fn::GetAtt'];
    if (Array.isArray(getAtt)) return `<${getAtt.join('.')}>`;
    if ('Ref' in node) return `<${String(node.Ref)}>`;
  }
  return JSON.stringify(value);
}
