// Lambda's Node.js runtime provides the `awslambda` global (streamifyResponse, HttpResponseStream);
// @types/aws-lambda declares it. Referencing the package here makes the declaration visible to
// every file the project compiles, so streaming handlers typecheck without importing anything.
// The local platform installs the same global at run time (local/lambda.ts).
/// <reference types="aws-lambda" />
