// A local HTTP server (127.0.0.1 only) that answers KMS's JSON protocol the way the service does,
// for testing the KMS SecretBox through the REAL `@aws-sdk/client-kms` client (give the client
// `endpoint: server.url`): `POST /` with `X-Amz-Target: TrentService.GenerateDataKey` or
// `TrentService.Decrypt`, `application/x-amz-json-1.1` bodies, blobs as base64. Real crypto
// inside: each key has its own AES-256-GCM master key, and a ciphertext blob names its key and
// is bound to the encryption context, so Decrypt with another context (or a changed blob) fails
// with InvalidCiphertextException as in KMS. KMS's error shapes (`{"__type", "message"}`), a
// request log, and failures on demand (access denied, throttling, internal errors).

import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenHttp, readRequestBody } from './listen.ts';

export type KmsOperation = 'GenerateDataKey' | 'Decrypt';

export type KmsFailure =
  /** 400 AccessDeniedException, as when the function's role lacks kms:Decrypt or the key policy denies it. */
  | { kind: 'access_denied' }
  /** 400 ThrottlingException (KMS throttles with 400, not 429). */
  | { kind: 'throttling' }
  /** 500 KMSInternalException. */
  | { kind: 'internal' }
  /** 500 KeyUnavailableException (the key material is temporarily unavailable). */
  | { kind: 'key_unavailable' };

export interface KmsRequest {
  /** The operation from `X-Amz-Target`, without the `TrentService.` prefix. */
  readonly operation: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: {
    KeyId?: unknown;
    KeySpec?: unknown;
    NumberOfBytes?: unknown;
    EncryptionContext?: unknown;
    CiphertextBlob?: unknown;
  };
}

export interface KmsWireServer {
  readonly url: string;
  readonly region: string;
  /** The ARN of the server's first key. */
  readonly keyArn: string;
  /** An alias of the first key (`alias/parley-secrets`). */
  readonly keyAlias: string;
  readonly requests: KmsRequest[];
  /** The next `count` requests (of `operation`, when given) fail this way. */
  failNext(count: number, failure: KmsFailure, operation?: KmsOperation): void;
  /** Another symmetric key; returns its ARN. */
  createKey(): string;
  /** Later requests with this key fail with DisabledException. */
  disableKey(keyArn: string): void;
  close(): Promise<void>;
}

const FAILURES = {
  throttling: {
    status: 400,
    type: 'ThrottlingException',
    message: 'You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.',
  },
  internal: { status: 500, type: 'KMSInternalException', message: 'An internal error has occurred.' },
  key_unavailable: {
    status: 500,
    type: 'KeyUnavailableException',
    message: 'The request was rejected because the specified KMS key was not available.',
  },
} as const;

const BLOB_MAGIC = 0x01;
const IV_BYTES = 12;
const TAG_BYTES = 16;

interface MasterKey {
  readonly id: string;
  readonly arn: string;
  readonly material: Buffer;
  enabled: boolean;
}

class KmsError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message?: string,
  ) {
    super(message);
  }
}

/** KMS binds a ciphertext to its encryption context, whatever order the pairs came in. */
function canonicalContext(context: Record<string, string>): Buffer {
  return Buffer.from(
    JSON.stringify(Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  );
}

function parseContext(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    !Object.values(value).every((v) => typeof v === 'string')
  )
    throw new KmsError(400, 'SerializationException', 'Start of structure or map found where not expected.');
  return value as Record<string, string>;
}

function parseBlob(value: unknown, field: string): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
    throw new KmsError(400, 'SerializationException', `Could not deserialize ${field}`);
  return Buffer.from(value, 'base64');
}

export async function startKmsServer(
  options: { region?: string; accountId?: string } = {},
): Promise<KmsWireServer> {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '111122223333';
  const keys = new Map<string, MasterKey>();
  const aliases = new Map<string, string>();
  const requests: KmsRequest[] = [];
  const failures: { failure: KmsFailure; operation?: KmsOperation }[] = [];

  const createKey = (): string => {
    const id = randomUUID();
    const arn = `arn:aws:kms:${region}:${accountId}:key/${id}`;
    keys.set(id, { id, arn, material: randomBytes(32), enabled: true });
    return arn;
  };
  const keyArn = createKey();
  const keyAlias = 'alias/parley-secrets';
  aliases.set(keyAlias, keyArn.slice(keyArn.lastIndexOf('/') + 1));

  /** Key id, key ARN, alias name or alias ARN → the key, as KMS resolves a KeyId. */
  const resolveKey = (ref: unknown): MasterKey => {
    if (typeof ref !== 'string' || ref === '')
      throw new KmsError(
        400,
        'ValidationException',
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null",
      );
    const prefix = `arn:aws:kms:${region}:${accountId}:`;
    const local = ref.startsWith(prefix) ? ref.slice(prefix.length) : ref;
    const aliasTarget = local.startsWith('alias/') ? aliases.get(local) : undefined;
    if (local.startsWith('alias/') && !aliasTarget)
      throw new KmsError(400, 'NotFoundException', `Alias ${prefix}${local} is not found.`);
    const id = aliasTarget ?? (local.startsWith('key/') ? local.slice(4) : local);
    const key = keys.get(id);
    if (!key) throw new KmsError(400, 'NotFoundException', `Key '${prefix}key/${id}' does not exist`);
    return key;
  };
  const usable = (key: MasterKey): MasterKey => {
    if (!key.enabled) throw new KmsError(400, 'DisabledException', `${key.arn} is disabled.`);
    return key;
  };

  const generateDataKey = (body: KmsRequest['body']) => {
    const key = usable(resolveKey(body.KeyId));
    const context = parseContext(body.EncryptionContext);
    const { KeySpec: spec, NumberOfBytes: count } = body;
    if ((spec === undefined) === (count === undefined))
      throw new KmsError(400, 'ValidationException', 'Please specify either number of bytes or key spec.');
    if (spec !== undefined && spec !== 'AES_256' && spec !== 'AES_128')
      throw new KmsError(
        400,
        'ValidationException',
        `1 validation error detected: Value '${String(spec)}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]`,
      );
    if (
      count !== undefined &&
      (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 1024)
    )
      throw new KmsError(
        400,
        'ValidationException',
        `1 validation error detected: Value '${String(count)}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024`,
      );
    const dataKey = randomBytes(spec === 'AES_128' ? 16 : spec === 'AES_256' ? 32 : (count as number));
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.material, iv);
    cipher.setAAD(canonicalContext(context));
    const sealed = Buffer.concat([cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
    // Like KMS's, the blob says which key encrypted it, so Decrypt needs no KeyId.
    const blob = Buffer.concat([
      Buffer.from([BLOB_MAGIC]),
      Buffer.from(key.id.replaceAll('-', ''), 'hex'),
      iv,
      sealed,
    ]);
    return { CiphertextBlob: blob.toString('base64'), Plaintext: dataKey.toString('base64'), KeyId: key.arn };
  };

  const decrypt = (body: KmsRequest['body']) => {
    const blob = parseBlob(body.CiphertextBlob, 'CiphertextBlob');
    const context = parseContext(body.EncryptionContext);
    if (blob.length < 1 + 16 + IV_BYTES + TAG_BYTES || blob[0] !== BLOB_MAGIC)
      throw new KmsError(400, 'InvalidCiphertextException');
    const hex = blob.subarray(1, 17).toString('hex');
    const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    const key = keys.get(id);
    if (!key) throw new KmsError(400, 'InvalidCiphertextException');
    if (body.KeyId !== undefined && resolveKey(body.KeyId).id !== key.id)
      throw new KmsError(
        400,
        'IncorrectKeyException',
        'The key ID in the request does not identify a KMS key that can perform this operation.',
      );
    usable(key);
    const iv = blob.subarray(17, 17 + IV_BYTES);
    const sealed = blob.subarray(17 + IV_BYTES);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.material, iv);
      decipher.setAAD(canonicalContext(context));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      const dataKey = Buffer.concat([
        decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return {
        KeyId: key.arn,
        Plaintext: dataKey.toString('base64'),
        EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      };
    } catch {
      // KMS says no more than this when the blob or the context is wrong.
      throw new KmsError(400, 'InvalidCiphertextException');
    }
  };

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': randomUUID(),
    });
    res.end(text);
  };
  const sendError = (res: ServerResponse, error: KmsError) =>
    send(res, error.status, { __type: error.type, ...(error.message ? { message: error.message } : {}) });

  const server = createServer(async (req, res) => {
    const raw = await readRequestBody(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : target;
    let body: KmsRequest['body'] = {};
    try {
      body = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : {};
    } catch {
      requests.push({ operation, headers: req.headers, body });
      sendError(res, new KmsError(400, 'SerializationException', 'Unable to parse the request body.'));
      return;
    }
    requests.push({ operation, headers: req.headers, body });
    try {
      if (req.method !== 'POST' || (req.url ?? '/') !== '/')
        throw new KmsError(404, 'UnknownOperationException');
      if (req.headers['content-type'] !== 'application/x-amz-json-1.1')
        throw new KmsError(400, 'SerializationException', 'Content-Type must be application/x-amz-json-1.1.');
      const authorization = String(req.headers.authorization ?? '');
      if (!authorization.startsWith('AWS4-HMAC-SHA256 '))
        throw new KmsError(400, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
      if (!authorization.includes(`/${region}/kms/aws4_request`))
        throw new KmsError(
          400,
          'InvalidSignatureException',
          `Credential should be scoped to a valid region and to the 'kms' service.`,
        );
      if (operation !== 'GenerateDataKey' && operation !== 'Decrypt')
        throw new KmsError(400, 'UnknownOperationException');
      const index = failures.findIndex((f) => f.operation === undefined || f.operation === operation);
      const failure = index === -1 ? undefined : failures.splice(index, 1)[0]?.failure;
      if (failure?.kind === 'access_denied')
        throw new KmsError(
          400,
          'AccessDeniedException',
          `User: arn:aws:sts::${accountId}:assumed-role/parley-reply/parley-reply is not authorized to perform: kms:${operation} on resource: ${keyArn} because no identity-based policy allows the kms:${operation} action`,
        );
      if (failure) {
        const { status, type, message } = FAILURES[failure.kind];
        throw new KmsError(status, type, message);
      }
      send(res, 200, operation === 'GenerateDataKey' ? generateDataKey(body) : decrypt(body));
    } catch (error) {
      sendError(
        res,
        error instanceof KmsError ? error : new KmsError(500, 'KMSInternalException', String(error)),
      );
    }
  });

  const { url, close } = await listenHttp(server);
  return {
    url,
    region,
    keyArn,
    keyAlias,
    requests,
    failNext(count, failure, operation) {
      for (let i = 0; i < count; i++) failures.push({ failure, operation });
    },
    createKey,
    disableKey(arn) {
      resolveKey(arn).enabled = false;
    },
    close,
  };
}
