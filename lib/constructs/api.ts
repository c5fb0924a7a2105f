import { RemovalPolicy } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { gatewayResponses, gatewayResponseTemplate } from '../../shared/gateway-responses.ts';
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
  readonly logRetention: logs.RetentionDays;
}

/** The public REST API: one Lambda proxy method per route in the resource definitions. */
export class Api extends Construct {
  readonly restApi: apigateway.RestApi;
  readonly webAcl: wafv2.CfnWebACL;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const q = (value: string) => `"${value}"`;
    const accessLogFormat = apigateway.AccessLogFormat.custom(
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
        accessLogFormat,
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

    acknowledge(
      this.restApi,
      'AwsSolutions-APIG2',
      'Requests are validated in each function (zod), which answers with field paths in the project error envelope; API Gateway models would duplicate that.',
    );
    this.webAcl = this.firewall(props.stage, props.wafRateLimit);
    new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
      resourceArn: this.restApi.deploymentStage.stageArn,
      webAclArn: this.webAcl.attrArn,
    });

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

  /**
   * The API's web ACL: a flood guard per viewer (CloudFront passes the viewer's address as the
   * first X-Forwarded-For entry; direct callers are counted by their own address, with a higher
   * limit since CloudFront's edges share addresses), and AWS's managed rules for known bad inputs
   * and addresses with a bad reputation. Anything else is allowed: bodies vary (webhooks, chat),
   * and the functions validate them.
   */
  private firewall(stage: string, rateLimit: number): wafv2.CfnWebACL {
    const visibility = (name: string) => ({
      cloudWatchMetricsEnabled: true,
      metricName: `parley-${stage}-${name}`,
      sampledRequestsEnabled: true,
    });
    const managed = (name: string, priority: number): wafv2.CfnWebACL.RuleProperty => ({
      name,
      priority,
      overrideAction: { none: {} },
      statement: { managedRuleGroupStatement: { vendorName: 'AWS', name } },
      visibilityConfig: visibility(name),
    });
    return new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('api'),
      rules: [
        {
          name: 'rate-per-viewer',
          priority: 0,
          action: { block: {} },
          statement: {
            rateBasedStatement: {
              limit: rateLimit,
              aggregateKeyType: 'FORWARDED_IP',
              forwardedIpConfig: { headerName: 'X-Forwarded-For', fallbackBehavior: 'NO_MATCH' },
            },
          },
          visibilityConfig: visibility('rate-per-viewer'),
        },
        {
          name: 'rate-per-address',
          priority: 1,
          action: { block: {} },
          statement: { rateBasedStatement: { limit: rateLimit * 10, aggregateKeyType: 'IP' } },
          visibilityConfig: visibility('rate-per-address'),
        },
        managed('AWSManagedRulesKnownBadInputsRuleSet', 2),
        managed('AWSManagedRulesAmazonIpReputationList', 3),
      ],
    });
  }
}
