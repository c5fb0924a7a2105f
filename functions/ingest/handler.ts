import type { S3Event } from 'aws-lambda';
import { createIngestDeps } from '../../shared/config/knowledge-deps.ts';
import { logger } from '../../shared/logging.ts';
import { once } from '../../shared/memo.ts';
import { sqsHandler } from '../../shared/sqs.ts';
import { ingestObject } from '../../shared/usecases/ingest.ts';

const deps = once(createIngestDeps);

/** S3 event keys arrive URL-encoded, with `+` for spaces. */
const decodeKey = (key: string) => decodeURIComponent(key.replace(/\+/g, ' '));

export const handler = sqsHandler(async (record) => {
  const body = JSON.parse(record.body) as Partial<S3Event> & { Event?: string };
  if (body.Event === 's3:TestEvent') {
    logger.info('S3 test event ignored');
    return;
  }
  for (const s3Record of body.Records ?? []) {
    if (!s3Record.eventName?.startsWith('ObjectCreated:')) continue;
    // The message id names the attempt: its redelivery may take the document over, another
    // delivery of the same upload may not.
    await ingestObject(deps(), decodeKey(s3Record.s3.object.key), record.messageId);
  }
});
