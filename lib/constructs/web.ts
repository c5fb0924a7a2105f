import { AssetHashType, DockerImage, Duration, RemovalPolicy, type SecretValue, Stack } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { EDGE_REQUEST_FUNCTION, ORIGIN_SECRET_HEADER } from '../../shared/http/edge.ts';
import { consoleCsp, PAGE_CSP, writeWebSync } from '../../web/build.ts';
import { REPO_ROOT } from './functions.ts';
import {
  acknowledge,
  acknowledgeWildcardAction,
  acknowledgeWildcardResource,
  DISTRIBUTION_TLS_REASON,
  DISTRIBUTION_WAF_REASON,
} from './nag.ts';

export interface WebProps {
  readonly api: apigateway.RestApi;
  /** The console posts documents straight to it (presigned POST): its origin joins connect-src. */
  readonly documentsBucket: s3.IBucket;
  /** Where the bucket's server access logs go (the data construct's log bucket). */
  readonly accessLogsBucket: s3.IBucket;
  /** The value CloudFront sends the API as its origin header (shared/http/edge.ts). */
  readonly originSecret: SecretValue;
}

/** CDK's id for BucketDeployment's singleton handler (a fixed UUID in aws-s3-deployment). */
const DEPLOYMENT_HANDLER_ID = '8693BB64968944B69AAFB0CC9EB8756C';

/** The API's paths, which CloudFront sends on to API Gateway: everything that is not a page. */
export const API_PATH_PATTERNS = ['/admin/*', '/chat/*', '/webhooks/*', '/health', '/openapi.json'];

/**
 * The web app (console at `/`, hosted chat pages at `/b/{botId}`, `/widget.js`) from a private S3
 * bucket behind CloudFront, which also forwards the API's paths to API Gateway: the pages and the
 * API share one origin, so the console needs no CORS and `config.json` says `apiBaseUrl: ""`.
 */
export class Web extends Construct {
  readonly bucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;

  constructor(scope: Construct, id: string, props: WebProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'web/',
      // Only build output lives here, and the deployment removes it when it goes (retainOnDelete).
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const { rewrite, forwardHost } = this.edgeFunctions();
    const pageHeaders = (framing: boolean) => this.pageHeaders(framing, props);
    const site = origins.S3BucketOrigin.withOriginAccessControl(this.bucket);
    const api: cloudfront.BehaviorOptions = {
      // The secret proves a request came through here (the WAF blocks the rest). CloudFront's
      // custom origin headers hold plain values, so the resolved secret sits in the distribution's
      // config (readable with cloudfront:GetDistributionConfig); the template holds only a
      // Secrets Manager reference. Rotation: docs/ARCHITECTURE.md, "The edge".
      origin: new origins.RestApiOrigin(props.api, {
        customHeaders: { [ORIGIN_SECRET_HEADER]: props.originSecret.unsafeUnwrap() },
      }),
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
      cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
      originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      functionAssociations: [
        { function: forwardHost, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST },
      ],
    };
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Parley web app and API',
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: site,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        responseHeadersPolicy: pageHeaders(false),
      },
      additionalBehaviors: {
        '/b/*': {
          origin: site,
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
          responseHeadersPolicy: pageHeaders(true),
          functionAssociations: [
            { function: rewrite, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST },
          ],
        },
        // Other sites load the loader: it carries no cookies and reads nothing.
        '/widget.js': {
          origin: site,
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
          responseHeadersPolicy: cloudfront.ResponseHeadersPolicy.CORS_ALLOW_ALL_ORIGINS,
        },
        ...Object.fromEntries(API_PATH_PATTERNS.map((pattern) => [pattern, api])),
      },
    });

    this.deploy();

    acknowledge(this.distribution, 'AwsSolutions-CFR1', 'A public chat service: no geo restriction.');
    acknowledge(this.distribution, 'AwsSolutions-CFR2', DISTRIBUTION_WAF_REASON);
    acknowledge(
      this.distribution,
      'AwsSolutions-CFR3',
      'CloudFront standard logs need an ACL-enabled bucket; API Gateway access logs and the functions’ logs record every API call.',
    );
    acknowledge(this.distribution, 'AwsSolutions-CFR4', DISTRIBUTION_TLS_REASON);
    this.acknowledgeDeploymentHandler();
  }

  /** The CloudFront Functions: the chat page's rewrite, and the API's forwarded host and address. */
  private edgeFunctions() {
    // `/b/<botId>` is one page for every bot; the API's paths carry the viewer's host on to the
    // chat function, which recognises Parley's own pages by it (x-forwarded-host).
    const rewrite = new cloudfront.Function(this, 'ChatPageRewrite', {
      runtime: cloudfront.FunctionRuntime.JS_2_0,
      comment: 'Serves /b/<botId> from /b/index.html',
      code: cloudfront.FunctionCode.fromInline(
        "function handler(event) { var r = event.request; if (/^\\/b\\/[A-Za-z0-9_-]{1,64}\\/?$/.test(r.uri)) { r.uri = '/b/index.html'; } return r; }",
      ),
    });
    // The viewer's address too (x-parley-viewer-ip): the WAF and the per-user limits key on it.
    const forwardHost = new cloudfront.Function(this, 'ForwardHost', {
      runtime: cloudfront.FunctionRuntime.JS_2_0,
      comment: 'Passes the viewer host and address to the API (x-forwarded-host, x-parley-viewer-ip)',
      code: cloudfront.FunctionCode.fromInline(EDGE_REQUEST_FUNCTION),
    });
    return { rewrite, forwardHost };
  }

  /** The pages' security headers: the chat pages may be framed (the widget), the console never. */
  private pageHeaders(framing: boolean, props: WebProps): cloudfront.ResponseHeadersPolicy {
    return new cloudfront.ResponseHeadersPolicy(this, framing ? 'ChatPageHeaders' : 'ConsoleHeaders', {
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          // The API is behind the same distribution; the console also posts to the documents bucket.
          contentSecurityPolicy: framing
            ? PAGE_CSP
            : consoleCsp(`https://${props.documentsBucket.bucketRegionalDomainName}`),
          override: true,
        },
        contentTypeOptions: { override: true },
        referrerPolicy: {
          referrerPolicy: cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
          override: true,
        },
        strictTransportSecurity: {
          accessControlMaxAge: Duration.days(365),
          includeSubdomains: true,
          override: true,
        },
        ...(framing
          ? {}
          : { frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true } }),
      },
    });
  }

  /** Copies the web app's build (made at synth) and its config into the bucket. */
  private deploy(): void {
    // The build runs at synth (esbuild, in process); tests that skip bundling skip it too.
    const build = s3deploy.Source.asset(`${REPO_ROOT}web`, {
      // Hashed by what was built: the app also holds code and data from shared/ (the channel list).
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        image: DockerImage.fromRegistry('parley/no-docker'),
        local: {
          tryBundle(outputDir) {
            writeWebSync(outputDir);
            return true;
          },
        },
      },
    });
    new s3deploy.BucketDeployment(this, 'Deploy', {
      sources: [build, s3deploy.Source.jsonData('config.json', { apiBaseUrl: '' })],
      destinationBucket: this.bucket,
      distribution: this.distribution,
      distributionPaths: ['/*'],
      memoryLimit: 512,
      retainOnDelete: false,
    });
  }

  /**
   * CDK's own deployment function (copies the build into the bucket, then invalidates the
   * cache): a singleton at the stack's root, so its findings are acknowledged there.
   */
  private acknowledgeDeploymentHandler(): void {
    const handler = Stack.of(this).node.tryFindChild(
      `Custom::CDKBucketDeployment${DEPLOYMENT_HANDLER_ID}512MiB`,
    );
    if (handler) {
      acknowledge(
        handler,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        'CDK’s BucketDeployment handler uses the basic execution role (its logs).',
      );
      const why =
        'CDK’s BucketDeployment handler reads CDK’s asset bucket and writes the web bucket, as CDK grants it.';
      for (const action of ['s3:GetBucket*', 's3:GetObject*', 's3:List*', 's3:Abort*', 's3:DeleteObject*']) {
        acknowledgeWildcardAction(handler, action, why);
      }
      acknowledgeWildcardResource(handler, `${this.bucket.bucketArn}/*`, why);
      acknowledge(
        handler,
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]',
        why,
      );
      acknowledge(
        handler,
        'AwsSolutions-IAM5[Resource::*]',
        'CDK grants it cloudfront:CreateInvalidation, which has no resource scope.',
      );
      acknowledge(handler, 'AwsSolutions-L1', 'CDK’s BucketDeployment handler runtime is chosen by CDK.');
    }
  }
}
