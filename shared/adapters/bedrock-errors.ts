// Bedrock's refusals, by error name: the same request cannot succeed later (bad input or model
// id, no access, over a quota, bad credentials), so the adapters fail at once instead of retrying.
export const BEDROCK_REFUSALS: ReadonlySet<string> = new Set([
  'ValidationException',
  'AccessDeniedException',
  'ResourceNotFoundException',
  'ServiceQuotaExceededException',
  'ConflictException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
]);
