import { Tracer } from '@aws-lambda-powertools/tracer';

// X-Ray through Powertools. In Lambda (the stack turns active tracing on), each invocation's trace
// gets a subsegment per AWS SDK call (DynamoDB, S3, SQS, Bedrock, KMS, Secrets Manager) and per
// outbound HTTPS request or fetch (OpenAI, Telegram, Meta's Graph API), so a slow turn shows which
// call was slow. Outside Lambda (the local platform, tests) Powertools turns itself off: there is
// no X-Ray daemon to send to, and `traced` hands the client back untouched.

export const tracer = new Tracer({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'parley' });

/** An AWS SDK v3 client whose calls are traced as subsegments. */
export const traced = <Client>(client: Client): Client => tracer.captureAWSv3Client(client);
