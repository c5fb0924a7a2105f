import { logger } from '../../shared/logging.ts';
import { once } from '../../shared/memo.ts';
import { decodeS3EventKey, S3NotificationSchema, sqsHandler } from '../../shared/sqs.ts';
import { ingestObject } from '../../shared/usecases/ingest.ts';
import { createIngestDeps } from '../../shared/wiring/knowledge-deps.ts';

const deps = once(createIngestDeps);

export const handler = sqsHandler(S3NotificationSchema, async (notification, record) => {
  if (!('Records' in notification)) {
    logger.info('S3 test event ignored', { bucket: notification.Bucket });
    return;
  }
  for (const s3Record of notification.Records) {
    if (!s3Record.eventName.startsWith('ObjectCreated:')) continue;
    // The message id names the attempt: its redelivery may take the document over, another
    // delivery of the same upload may not.
    await ingestObject(deps(), decodeS3EventKey(s3Record.s3.object.key), record.messageId);
  }
});
