import { RemovalPolicy, SecretValue } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import type { ErrorCode } from '../../shared/domain/errors.ts';
import { gatewayResponses, gatewayResponseTemplate } from '../../shared/gateway-responses.ts';
import { ORIGIN_SECRET_HEADER, VIEWER_IP_HEADER } from '../../shared/http/edge.ts';
import {
  API_BINARY_MEDIA_TYPES,
  type FunctionName,
  type ResourceDefinitions,
} from '../../shared/resources.ts';
import type { ParleyConfig } from '../config.ts';
import { acknowledge } from './nag.ts';

export interface ApiProps {
  readonly stage: string;
  readonly routes: ResourceDefinitions['routes'];
  readonly functionDefinitions: ResourceDefinitions['functions'];
  readonly functions: Record<FunctionName, lambda.IFunction>;
  readonly apiThrottle: ParleyConfig['apiThrottle'];
  /** Requests per viewer IP in any 5 minutes before the WAF blocks it. */
  readonly wafRateLimit: number;
  /** Requests per tenant key, and per bot's chat path, in any 5 minutes before the WAF blocks them. */
  readonly wafTenantRateLimit: number;
  /** Pins the origin secret's version (rotation); the current one when unset. */
  readonly originSecretVersionId?: string;
  readonly logRetention: logs.RetentionDays;
}

/** One JSON line per request in the access logs. */
function accessLogFormat(): apigateway.AccessLogFormat {
  const q = (value: string) => `"${value}"`;
  return apigateway.AccessLogFormat.custom(
    `{${Object.entries({
      requestId: apigateway.AccessLogField.contextRequestId(),
      ip: apigateway.AccessLogField.contextIdentitySourceIp(),
      userAgent: apigateway.AccessLogField.contextIdentityUserAgent(),
      requestTime: apigateway.AccessLogField.contextRequestTime(),
      httpMethod: apigateway.AccessLogField.contextHttpMethod(),
      resourcePath: apigateway.AccessLogField.contextResourcePath(),
      status: apigateway.AccessLogField.contextStatus(),
      protocol: apigateway.AccessLogField.contextProtocol(),
      responseLength: apigateway.AccessLogField.contextResponseLength(),
      responseLatency: apigateway.AccessLogField.contextResponseLatency(),
      integrationLatency: apigateway.AccessLogField.contextIntegrationLatency(),
      integrationStatus: apigateway.AccessLogField.contextIntegrationStatus(),
      errorResponseType: apigateway.AccessLogField.contextErrorResponseType(),
    })
      .map(([key, value]) => `${q(key)}:${q(value)}`)
      .join(',')}}`,
  );
}

/** The public REST API: one Lambda proxy method per route in the resource definitions. */
export class Api extends Construct {
  readonly restApi: apigateway.RestApi;
  readonly webAcl: wafv2.CfnWebACL;
  /** CloudFront's origin header value (shared/http/edge.ts): generated at deploy, checked by the WAF. */
  readonly originSecret: secretsmanager.Secret;
  /** Its value as CloudFront, the WAF and the chat functions use it: a reference resolved at deploy. */
  readonly originSecretValue: SecretValue;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.restApi = new apigateway.RestApi(this, 'RestApi', {
      restApiName: `parley-${props.stage}`,
      description: `Parley ${props.stage} API`,
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      // Bodies of these types reach functions base64-encoded (webhooks verify signatures over raw bytes).
      binaryMediaTypes: [...API_BINARY_MEDIA_TYPES],
      // Execution logs (errors only) need API Gateway's account-level CloudWatch role.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: props.stage,
        accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
        accessLogFormat: accessLogFormat(),
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        throttlingRateLimit: props.apiThrottle.rateLimit,
        throttlingBurstLimit: props.apiThrottle.burstLimit,
      },
    });

    // The stack has its own `ApiUrl` output; drop the duplicate that RestApi adds by itself.
    this.restApi.node.tryRemoveChild('Endpoint');

    this.addRoutes(props);

    acknowledge(
      this.restApi,
      'AwsSolutions-APIG2',
      'Requests are validated in each function (zod), which answers with field paths in the project error envelope; API Gateway models would duplicate that.',
    );
    this.originSecret = this.createOriginSecret(props.stage);
    this.originSecretValue = props.originSecretVersionId
      ? SecretValue.secretsManager(this.originSecret.secretArn, { versionId: props.originSecretVersionId })
      : this.originSecret.secretValue;
    this.webAcl = this.firewall(props, this.originSecretValue.unsafeUnwrap());
    new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
      resourceArn: this.restApi.deploymentStage.stageArn,
      webAclArn: this.webAcl.attrArn,
    });

    this.acknowledgeAuth();
  }

  /** The gateway's error responses in our envelope, and every route on its function. */
  private addRoutes(props: ApiProps): void {
    for (const response of gatewayResponses) {
      this.restApi.addGatewayResponse(`GatewayResponse${response.type}`, {
        type: apigateway.ResponseType.of(response.type),
        ...(response.statusCode === undefined ? {} : { statusCode: String(response.statusCode) }),
        responseHeaders: { 'Access-Control-Allow-Origin': "'*'" },
        templates: { 'application/json': gatewayResponseTemplate(response) },
      });
    }

    // One integration per function, its invoke permission scoped to this API rather than to each
    // method: a per-method permission for every route would grow the function's resource policy
    // past Lambda's 20 KB limit as routes are added.
    const integrations = new Map<FunctionName, apigateway.LambdaIntegration>();
    const integrationFor = (name: FunctionName) => {
      let integration = integrations.get(name);
      if (!integration) {
        integration = new apigateway.LambdaIntegration(props.functions[name], {
          proxy: true,
          scopePermissionToMethod: false,
          responseTransferMode: props.functionDefinitions[name].streaming
            ? apigateway.ResponseTransferMode.STREAM
            : apigateway.ResponseTransferMode.BUFFERED,
        });
        integrations.set(name, integration);
      }
      return integration;
    };
    for (const route of props.routes) {
      this.restApi.root.resourceForPath(route.path).addMethod(route.method, integrationFor(route.function));
    }
  }

  private acknowledgeAuth(): void {
    acknowledge(
      this.restApi,
      'AwsSolutions-APIG4',
      'Authentication is the in-function key middleware by design (DESIGN.md §3): keys are checked on every request so a revoked key fails immediately.',
    );
    acknowledge(
      this.restApi,
      'AwsSolutions-COG4',
      'No Cognito: tenants and the operator authenticate with API keys checked in the functions (DESIGN.md §3); public bots are open by design.',
    );
    const cloudWatchRole = this.restApi.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRole) {
      acknowledge(
        cloudWatchRole,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        'AWS-managed policy for API Gateway’s account-level logging role; it grants only CloudWatch Logs writes and is maintained by AWS.',
      );
    }
  }

  /** CloudFront's origin header value, generated by Secrets Manager at deploy (no literal anywhere). */
  private createOriginSecret(stage: string): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, 'OriginSecret', {
      description: `Parley ${stage}: the header value CloudFront sends the API (${ORIGIN_SECRET_HEADER}); requests without it are blocked`,
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
    });
    acknowledge(
      secret,
      'AwsSolutions-SMG4',
      'CloudFront’s origin header and the WAF rule hold the resolved value, so rotation is a put-secret-value followed by a deploy (docs/ARCHITECTURE.md, "The edge"), not a rotation Lambda.',
    );
    return secret;
  }

  /**
   * The API's web ACL. The execute-api endpoint cannot be switched off without a custom domain, so
   * every request must carry CloudFront's origin secret; after that, CloudFront's edge function has
   * set the viewer's address (x-parley-viewer-ip) and nobody else could. Then: bodies past what a
   * function can take answer 413, a flood guard per viewer, per-tenant throttles, and AWS's
   * managed rules for known bad inputs and addresses with a bad reputation. Anything else is
   * allowed: bodies vary (webhooks, chat), and the functions validate them.
   */
  private firewall(props: ApiProps, originSecret: string): wafv2.CfnWebACL {
    const rule = ruleMaker(props.stage);
    const managed = (name: string, priority: number): wafv2.CfnWebACL.RuleProperty => ({
      name,
      priority,
      overrideAction: { none: {} },
      statement: { managedRuleGroupStatement: { vendorName: 'AWS', name } },
      visibilityConfig: visibility(props.stage, name),
    });
    return new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(props.stage, 'api'),
      customResponseBodies: Object.fromEntries(
        Object.entries(EDGE_ERRORS).map(([key, error]) => [
          key,
          // WAF answers before API Gateway assigns a request id.
          {
            contentType: 'APPLICATION_JSON',
            content: JSON.stringify({ error: { ...error, requestId: '' } }),
          },
        ]),
      ),
      rules: [
        ...edgeRules(rule, originSecret),
        rule('rate-per-viewer', 2, {
          rateBasedStatement: {
            limit: props.wafRateLimit,
            aggregateKeyType: 'FORWARDED_IP',
            forwardedIpConfig: { headerName: VIEWER_IP_HEADER, fallbackBehavior: 'NO_MATCH' },
          },
        }),
        ...tenantThrottles(rule, props.wafTenantRateLimit),
        managed('AWSManagedRulesKnownBadInputsRuleSet', 5),
        managed('AWSManagedRulesAmazonIpReputationList', 6),
      ],
    });
  }
}

type RuleMaker = (
  name: string,
  priority: number,
  statement: wafv2.CfnWebACL.StatementProperty,
  block?: wafv2.CfnWebACL.BlockActionProperty,
) => wafv2.CfnWebACL.RuleProperty;

const visibility = (stage: string, name: string) => ({
  cloudWatchMetricsEnabled: true,
  metricName: `parley-${stage}-${name}`,
  sampledRequestsEnabled: true,
});

/** Blocking rules with their metrics; `block` may answer with one of EDGE_ERRORS. */
const ruleMaker =
  (stage: string): RuleMaker =>
  (name, priority, statement, block = {}) => ({
    name,
    priority,
    action: { block },
    statement,
    visibilityConfig: visibility(stage, name),
  });

/** WAF inspects fields as they arrive. */
const AS_SENT = [{ priority: 0, type: 'NONE' }];

// SingleHeader is untyped in CDK (JSON passthrough): its key must be CloudFormation's `Name`.
const header = (name: string) => ({ singleHeader: { Name: name } });

const answer = (status: number, key: keyof typeof EDGE_ERRORS) => ({
  customResponse: { responseCode: status, customResponseBodyKey: key },
});

/** Only CloudFront may call (its origin secret), and no body a function cannot take. */
function edgeRules(rule: RuleMaker, originSecret: string): wafv2.CfnWebACL.RuleProperty[] {
  return [
    rule(
      'require-origin-secret',
      0,
      {
        notStatement: {
          statement: {
            byteMatchStatement: {
              fieldToMatch: header(ORIGIN_SECRET_HEADER),
              positionalConstraint: 'EXACTLY',
              searchString: originSecret,
              textTransformations: AS_SENT,
            },
          },
        },
      },
      answer(404, 'not-through-edge'),
    ),
    rule(
      'payload-too-large',
      1,
      {
        regexMatchStatement: {
          fieldToMatch: header('content-length'),
          regexString: contentLengthAtLeast(FUNCTION_MAX_BODY_BYTES),
          textTransformations: AS_SENT,
        },
      },
      answer(413, 'payload-too-large'),
    ),
  ];
}

/**
 * Per-tenant throttles, so one tenant cannot take the stage's rate. API Gateway usage plans would
 * need API Gateway's own API keys, which Parley's keys are not; and the edge cannot see a tenant
 * id (a key names only its key record). So the WAF counts what a request does carry that belongs
 * to one tenant: its tenant key (the Authorization header; requests without one are not counted
 * here), and, for anonymous and keyed chat alike, the bot it talks to (the `/chat/{botId}` and
 * `/chat/{botId}/stream` paths; other paths under a bot carry ids a caller could vary).
 */
function tenantThrottles(rule: RuleMaker, limit: number): wafv2.CfnWebACL.RuleProperty[] {
  return [
    rule('rate-per-tenant-key', 3, {
      rateBasedStatement: {
        limit,
        aggregateKeyType: 'CUSTOM_KEYS',
        customKeys: [{ header: { name: 'authorization', textTransformations: AS_SENT } }],
      },
    }),
    rule('rate-per-bot', 4, {
      rateBasedStatement: {
        limit,
        aggregateKeyType: 'CUSTOM_KEYS',
        customKeys: [{ uriPath: { textTransformations: AS_SENT } }],
        scopeDownStatement: {
          // Unanchored at the start: the path API Gateway sees may begin with the stage.
          regexMatchStatement: {
            fieldToMatch: { uriPath: {} },
            regexString: BOT_CHAT_PATH,
            textTransformations: AS_SENT,
          },
        },
      },
    }),
  ];
}

/** The chat paths of one bot, which the per-bot throttle counts. */
export const BOT_CHAT_PATH = '/chat/[^/]+(/stream)?/?$';

/**
 * The largest body the WAF lets through: Lambda takes at most 6 MiB of request payload (the event
 * around the body included, and binary bodies grow by a third in base64), so anything of 6 MB or
 * more would fail in the invocation as a 502; API Gateway itself refuses only past 10 MB.
 */
export const FUNCTION_MAX_BODY_BYTES = 6_000_000;

/** The WAF's own answers, in the API's error envelope (shared/http/response.ts). */
const EDGE_ERRORS = {
  'not-through-edge': { code: 'not_found', message: 'Call the API through the web URL (CloudFront)' },
  'payload-too-large': {
    code: 'payload_too_large',
    message: `Request body is larger than ${FUNCTION_MAX_BODY_BYTES / 1_000_000} MB`,
  },
} as const satisfies Record<string, { code: ErrorCode; message: string }>;

/**
 * A regex matching decimal Content-Length values of at least `bytes`, which must be one digit
 * followed by zeros (WAF compares strings, not numbers).
 */
export function contentLengthAtLeast(bytes: number): string {
  const match = /^([1-9])(0*)$/.exec(String(bytes));
  if (!match) throw new Error(`contentLengthAtLeast: ${bytes} must be one digit followed by zeros`);
  const [, lead, zeros] = match as unknown as [string, string, string];
  const rest = zeros.length;
  const sameLength = lead === '9' ? '9' : `[${lead}-9]`;
  return `^0*([1-9][0-9]{${rest + 1},}|${sameLength}[0-9]{${rest}})$`;
}
