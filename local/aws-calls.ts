// Counts the AWS API calls each invocation makes, by operation (`DynamoDB.GetItem`, `SQS.SendMessage`),
// for the gateway's Server-Timing header and access log: a developer (and bench/chat) sees what one
// request costs in calls. Node's http client publishes every request it starts on a diagnostics
// channel; the AWS SDK sends JSON-protocol operations with an X-Amz-Target header naming them.
// S3 (REST, no target) is not counted.

import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';

export type AwsCalls = Map<string, number>;

const current = new AsyncLocalStorage<AwsCalls>();

/** `DynamoDB_20120810.GetItem` → `DynamoDB.GetItem`; `AmazonSQS.SendMessage` → `SQS.SendMessage`. */
function operationOf(target: string): string {
  const [service = '', operation = ''] = target.split('.');
  if (service.startsWith('DynamoDB')) return `DynamoDB.${operation}`;
  if (service === 'AmazonSQS') return `SQS.${operation}`;
  return `${service}.${operation}`;
}

subscribe('http.client.request.start', (message) => {
  const calls = current.getStore();
  if (!calls) return;
  const target = (message as { request: ClientRequest }).request.getHeader('x-amz-target');
  if (typeof target !== 'string') return;
  const operation = operationOf(target);
  calls.set(operation, (calls.get(operation) ?? 0) + 1);
});

/** Runs `work`, counting into `calls` the AWS calls it (and whatever it starts) makes. */
export function countAwsCalls<T>(calls: AwsCalls, work: () => T): T {
  return current.run(calls, work);
}

/** How many calls went to `service` (`DynamoDB`, `SQS`). */
export function callsTo(calls: AwsCalls, service: string): number {
  let total = 0;
  for (const [operation, count] of calls) if (operation.startsWith(`${service}.`)) total += count;
  return total;
}

/** Server-Timing's description of a service's calls: `5 (GetItem 2, Query 1, UpdateItem 2)`. */
export function describeCalls(calls: AwsCalls, service: string): string {
  const parts = [...calls]
    .filter(([operation]) => operation.startsWith(`${service}.`))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([operation, count]) => `${operation.slice(service.length + 1)} ${count}`);
  return `${callsTo(calls, service)} (${parts.join(', ')})`;
}
