import { Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as opensearch from 'aws-cdk-lib/aws-opensearchservice';
import { Construct } from 'constructs';
import type { ParleyConfig } from '../config.ts';
import { acknowledge, acknowledgeWildcardResource } from './nag.ts';

export interface SearchProps {
  readonly stage: string;
  /**
   * The one vector index of the deployment (one per embedding model and dimension, named by
   * `chunkIndexName`): access is granted on its paths only.
   */
  readonly indexName: string;
  readonly openSearch: ParleyConfig['openSearch'];
  readonly logRetention: logs.RetentionDays;
}

export type SearchAccess = 'read' | 'write';

/**
 * HTTP actions per access level. Readers search and count with POST (the k-NN query and the count
 * query have a body): `<index>/_search`, `_msearch`, `_count`, and nothing else by POST.
 */
const READ_ACTIONS = ['es:ESHttpGet', 'es:ESHttpHead'];
const READ_POST_PATHS = ['_search', '_msearch', '_count'];
const WRITE_ACTIONS = [
  'es:ESHttpGet',
  'es:ESHttpHead',
  'es:ESHttpPost',
  'es:ESHttpPut',
  'es:ESHttpDelete',
  'es:ESHttpPatch',
];

/**
 * The OpenSearch Service domain that holds the vector index. Access is IAM (SigV4) only: a role
 * gets access through `grant()`, which writes the same statements into the role's policy and into
 * the domain's resource policy, so the domain itself lists every role that may call it.
 */
export class Search extends Construct {
  readonly domain: opensearch.Domain;
  /** `https://…` endpoint for the OpenSearch client. */
  readonly endpointUrl: string;
  private readonly domainName: string;
  private readonly indexName: string;
  private readonly statements: iam.PolicyStatement[] = [];

  constructor(scope: Construct, id: string, props: SearchProps) {
    super(scope, id);
    const os = props.openSearch;
    // An explicit name lets the domain's resource policy name the domain's ARN without referencing
    // the domain itself (a resource cannot reference its own attributes).
    this.domainName = `parley-${props.stage}`;
    this.indexName = props.indexName;

    const { slowSearchLogGroup, slowIndexLogGroup, appLogGroup } = this.logGroups(props.logRetention);

    const dedicatedMasters = os.dedicatedMasterCount > 0;
    this.domain = new opensearch.Domain(this, 'Domain', {
      domainName: this.domainName,
      version: opensearch.EngineVersion.openSearch(os.engineVersion.replace(/^OpenSearch_/, '')),
      capacity: {
        dataNodes: os.instanceCount,
        dataNodeInstanceType: os.instanceType,
        ...(dedicatedMasters
          ? { masterNodes: os.dedicatedMasterCount, masterNodeInstanceType: os.dedicatedMasterInstanceType }
          : {}),
        multiAzWithStandbyEnabled: false,
      },
      zoneAwareness: os.zoneAwareness ? { enabled: true, availabilityZoneCount: 2 } : { enabled: false },
      ebs: { volumeSize: os.volumeSizeGb, volumeType: ec2.EbsDeviceVolumeType.GP3 },
      encryptionAtRest: { enabled: true },
      nodeToNodeEncryption: true,
      enforceHttps: true,
      tlsSecurityPolicy: opensearch.TLSSecurityPolicy.TLS_1_2_PFS,
      logging: {
        slowSearchLogEnabled: true,
        slowSearchLogGroup,
        slowIndexLogEnabled: true,
        slowIndexLogGroup,
        appLogEnabled: true,
        appLogGroup,
      },
      suppressLogsResourcePolicy: true,
      // The index is derived data: documents in S3 can be re-indexed, so the domain is not retained.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const cfnDomain = this.domain.node.defaultChild as opensearch.CfnDomain;
    // Until some role is granted access, the policy denies everyone (rather than being absent).
    cfnDomain.accessPolicies = Lazy.any({
      produce: () =>
        new iam.PolicyDocument({
          statements:
            this.statements.length > 0
              ? this.statements
              : [
                  new iam.PolicyStatement({
                    effect: iam.Effect.DENY,
                    principals: [new iam.AnyPrincipal()],
                    actions: ['es:ESHttp*'],
                    resources: [`${this.domainArn()}/*`],
                  }),
                ],
        }).toJSON(),
    });
    this.endpointUrl = `https://${this.domain.domainEndpoint}`;

    this.acknowledgeFindings(dedicatedMasters, os.zoneAwareness);
  }

  /** The domain's three log groups, which the service may write to. */
  private logGroups(retention: logs.RetentionDays) {
    const logGroup = (name: string) =>
      new logs.LogGroup(this, `${name}Logs`, {
        retention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
    const slowSearchLogGroup = logGroup('SlowSearch');
    const slowIndexLogGroup = logGroup('SlowIndex');
    const appLogGroup = logGroup('Application');
    // The service needs permission to write into the log groups. CDK would add it through a custom
    // resource (a Lambda function); a native AWS::Logs::ResourcePolicy does the same without one.
    new logs.ResourcePolicy(this, 'LogsResourcePolicy', {
      policyStatements: [
        new iam.PolicyStatement({
          principals: [new iam.ServicePrincipal('es.amazonaws.com')],
          actions: ['logs:PutLogEvents', 'logs:CreateLogStream'],
          resources: [slowSearchLogGroup, slowIndexLogGroup, appLogGroup].map((group) => group.logGroupArn),
          conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
        }),
      ],
    });
    return { slowSearchLogGroup, slowIndexLogGroup, appLogGroup };
  }

  private acknowledgeFindings(dedicatedMasters: boolean, zoneAwareness: boolean): void {
    acknowledge(
      this.domain,
      'AwsSolutions-OS1',
      'Not in a VPC: a VPC domain would put every function in a VPC with NAT for Bedrock and SQS; access is IAM SigV4 only, with a resource policy naming each role.',
    );
    if (!dedicatedMasters) {
      acknowledge(
        this.domain,
        'AwsSolutions-OS4',
        'Dedicated master nodes are a config toggle (openSearch.dedicatedMasterCount) and off in small stages to save cost.',
      );
    }
    if (!zoneAwareness) {
      acknowledge(
        this.domain,
        'AwsSolutions-OS7',
        'Zone awareness is a config toggle (openSearch.zoneAwareness) and off in small single-node stages; the index can be rebuilt from S3.',
      );
    }
  }

  /** Lets `role` read (search) or write the index, in its own policy and the domain's policy. */
  grant(role: iam.IRole, access: SearchAccess): void {
    if (this.statements.length === 0) {
      acknowledge(
        this.domain,
        'AwsSolutions-OS3',
        'IP allow-lists do not fit Lambda callers (no fixed addresses); every request must be SigV4-signed by a role in the resource policy.',
      );
    }
    // `<domain>/<index>` is the index itself (create, exists); `<domain>/<index>/*` its APIs
    // (`_bulk`, `_delete_by_query`, `_search`, documents).
    const index = `${this.domainArn()}/${this.indexName}`;
    const statements =
      access === 'write'
        ? [new iam.PolicyStatement({ actions: WRITE_ACTIONS, resources: [index, `${index}/*`] })]
        : [
            new iam.PolicyStatement({ actions: READ_ACTIONS, resources: [index, `${index}/*`] }),
            new iam.PolicyStatement({
              actions: ['es:ESHttpPost'],
              resources: READ_POST_PATHS.map((path) => `${index}/${path}`),
            }),
          ];
    for (const statement of statements) {
      role.addToPrincipalPolicy(statement);
      const domainStatement = statement.copy({ principals: [new iam.ArnPrincipal(role.roleArn)] });
      this.statements.push(domainStatement);
      for (const resource of statement.resources.filter((r) => r.includes('*'))) {
        acknowledgeWildcardResource(
          role,
          resource,
          `The APIs and documents of the deployment's one vector index (${this.indexName}): document ids are created at run time; other indexes and the cluster APIs are not covered.`,
        );
      }
    }
  }

  private domainArn(): string {
    return Stack.of(this).formatArn({ service: 'es', resource: 'domain', resourceName: this.domainName });
  }
}
