import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

// cdk-nag 3 reads acknowledgments from CDK's own `Validations.of(scope).acknowledge()` metadata, and
// each IAM5 finding has to be acknowledged by its exact id (`AwsSolutions-IAM5[Resource::…]`), with
// references flattened the way cdk-nag prints them. These helpers compute that id from the same
// value that was granted, so an acknowledgment can never drift from the grant it covers.

/** Acknowledges one cdk-nag rule on `scope` (and everything under it). */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/** Acknowledges the IAM5 finding for a wildcard resource granted to a role under `scope`. */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  const flat = flatten(Stack.of(scope).resolve(resource));
  acknowledge(scope, `AwsSolutions-IAM5[Resource::${flat}]`, reason);
}

/** Acknowledges the IAM5 finding for a wildcard action (e.g. `s3:GetObject*`). */
export function acknowledgeWildcardAction(scope: IConstruct, action: string, reason: string): void {
  acknowledge(scope, `AwsSolutions-IAM5[Action::${action}]`, reason);
}

/** cdk-nag's rendering of a CloudFormation value: `<Logical.Attr>` for GetAtt, `<Name>` for Ref. */
function flatten(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (typeof node === 'object' && node !== null) {
    const value = node as Record<string, unknown>;
    const join = value['Fn::Join'];
    if (Array.isArray(join)) {
      const [delimiter, items] = join as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    if ('Fn::Sub' in value) return flatten(value['Fn::Sub']);
    const getAtt = value['Fn::GetAtt'];
    if (Array.isArray(getAtt)) return `<${flatten(getAtt[0])}.${flatten(getAtt[1])}>`;
    if ('Fn::ImportValue' in value) return flatten(value['Fn::ImportValue']);
    if ('Ref' in value) return `<${flatten(value.Ref)}>`;
  }
  return JSON.stringify(node);
}

/**
 * Why the CloudFront distribution carries no WAF of its own: the API's web ACL sits on the REST
 * API stage, behind every API path pattern the distribution forwards; the other behaviours serve
 * the static web app from S3, which a WAF would not protect further.
 */
export const DISTRIBUTION_WAF_REASON =
  'The WAF (managed rules and rate limits) is associated with the API Gateway stage, which every API path of the distribution reaches; the distribution’s other behaviours only serve the static web app from S3.';

/**
 * Why the distribution may negotiate TLS older than 1.2: it uses CloudFront's default
 * *.cloudfront.net certificate, whose security policy CloudFront fixes at TLSv1. A minimum of
 * TLSv1.2_2021 needs a custom domain and an ACM certificate, which the stack has no setting for yet.
 */
export const DISTRIBUTION_TLS_REASON =
  'The distribution uses the default *.cloudfront.net certificate, which allows TLS older than 1.2 and cannot be changed; TLSv1.2_2021 needs a custom domain and certificate, for which the stack has no context value yet (publicBaseUrl only names the URL).';
