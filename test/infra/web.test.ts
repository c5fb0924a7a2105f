// The web app's hosting: a private bucket behind CloudFront (origin access control), the API's
// paths forwarded to API Gateway on the same distribution, one page for every bot's chat page,
// security headers (the console never framed), and the build deployed with its config file.

import { beforeAll, describe, expect, it } from '@jest/globals';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { API_PATH_PATTERNS } from '../../lib/constructs/web.ts';
import type { ParleyStack } from '../../lib/parley-stack.ts';
import { build, logicalId } from './template.ts';

let stack: ParleyStack;
let template: Template;

beforeAll(() => {
  ({ stack, template } = build());
});

type Behavior = Record<string, unknown> & { PathPattern?: string; TargetOriginId?: string };
const distribution = () =>
  (
    Object.values(template.findResources('AWS::CloudFront::Distribution'))[0] as {
      Properties: { DistributionConfig: Record<string, unknown> };
    }
  ).Properties.DistributionConfig;

describe('web hosting', () => {
  it('keeps the bucket private, encrypted and TLS-only, read by CloudFront through origin access control', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: Match.objectLike({}),
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'web/' }),
    });
    template.resourceCountIs('AWS::CloudFront::OriginAccessControl', 1);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logicalId(stack, stack.web.bucket) },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Principal: { Service: 'cloudfront.amazonaws.com' }, Action: 's3:GetObject' }),
        ]),
      },
    });
  });

  it('sends the API’s paths to API Gateway, uncached, with every method, and the rest to the bucket', () => {
    const config = distribution();
    const behaviors = config.CacheBehaviors as Behavior[];
    const apiBehaviors = behaviors.filter((b) => API_PATH_PATTERNS.includes(String(b.PathPattern)));
    expect(apiBehaviors.map((b) => b.PathPattern).sort()).toEqual([...API_PATH_PATTERNS].sort());
    for (const behavior of apiBehaviors) {
      expect(behavior.AllowedMethods).toEqual(
        expect.arrayContaining(['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE']),
      );
      // Managed CachingDisabled.
      expect(behavior.CachePolicyId).toBe('4135ea2d-6df8-44a3-9df3-4b5a84be39ad');
      expect(behavior.ViewerProtocolPolicy).toBe('https-only');
    }
    const origins = config.Origins as { Id: string; OriginPath?: string; S3OriginConfig?: unknown }[];
    const apiOrigin = origins.find((o) => o.Id === apiBehaviors[0]?.TargetOriginId);
    // The stage: the fourth segment of the API's URL (https://<id>.execute-api.<region>.<suffix>/<stage>/).
    expect(JSON.stringify(apiOrigin?.OriginPath)).toMatch(/Fn::Select":\[3.*execute-api/);
    expect(config.DefaultRootObject).toBe('index.html');
    expect((config.DefaultCacheBehavior as Behavior).ViewerProtocolPolicy).toBe('redirect-to-https');
  });

  it('serves one page for every bot’s chat page, frameable; the console is never framed', () => {
    const behaviors = distribution().CacheBehaviors as Behavior[];
    const chatPage = behaviors.find((b) => b.PathPattern === '/b/*');
    expect(chatPage?.FunctionAssociations).toEqual([
      expect.objectContaining({ EventType: 'viewer-request' }),
    ]);
    const policies = Object.values(template.findResources('AWS::CloudFront::ResponseHeadersPolicy')).map(
      (p) =>
        (
          p as {
            Properties: { ResponseHeadersPolicyConfig: { SecurityHeadersConfig: Record<string, unknown> } };
          }
        ).Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig,
    );
    // The console's policy names the documents bucket (a token): compare the rendered values.
    const csp = policies.map((p) =>
      JSON.stringify((p.ContentSecurityPolicy as { ContentSecurityPolicy: unknown }).ContentSecurityPolicy),
    );
    expect(csp.filter((c) => c.includes("frame-ancestors 'none'"))).toHaveLength(1);
    expect(csp.filter((c) => !c.includes('frame-ancestors'))).toHaveLength(1);
    for (const value of csp) expect(value).toContain("script-src 'self'");
    // Uploads go straight to the documents bucket.
    expect(csp.find((c) => c.includes("frame-ancestors 'none'"))).toContain('RegionalDomainName');
  });

  it('deploys the build and a config file telling the pages the API is on their own origin', () => {
    template.hasResourceProperties('Custom::CDKBucketDeployment', {
      DestinationBucketName: { Ref: logicalId(stack, stack.web.bucket) },
      DistributionPaths: ['/*'],
      RetainOnDelete: false,
    });
    const deployment = Object.values(template.findResources('Custom::CDKBucketDeployment'))[0] as {
      Properties: { SourceMarkersConfig: Record<string, unknown>[]; SourceObjectKeys: unknown[] };
    };
    // The build, and config.json (a JSON data source).
    expect(deployment.Properties.SourceObjectKeys).toHaveLength(2);
    expect(deployment.Properties.SourceMarkersConfig).toEqual([{}, { jsonEscape: true }]);
  });

  it('outputs the web URL', () => {
    template.hasOutput('WebUrl', {
      Value: {
        'Fn::Join': [
          '',
          ['https://', { 'Fn::GetAtt': [logicalId(stack, stack.web.distribution), 'DomainName'] }],
        ],
      },
    });
  });
});
