// The local platform assembled: gateway port first (so a taken port fails before anything
// starts), emulators, provisioning, the functions' environment, S3 notifications, queue pollers,
// then the gateway starts routing. stop() undoes it in reverse.

import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ResourceDefinitions, resources } from '../shared/resources.ts';
import { buildWeb } from '../web/build.ts';
import { createClients, type Endpoints, type LocalClients } from './aws.ts';
import { type Emulators, startEmulators } from './emulators.ts';
import { Gateway, type LocalRoute } from './gateway.ts';
import {
  applyLambdaEnvironment,
  FunctionHost,
  type LambdaEnvironmentOptions,
  type LocalFunctionDefinition,
  lambdaEnvironment,
} from './lambda.ts';
import { createLogger, type Logger } from './log.ts';
import { QueuePoller } from './poller.ts';
import { type ProvisionDefinitions, type Provisioned, provision } from './provision.ts';
import { S3EventForwarder } from './s3-events.ts';
import { serveWeb } from './web.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** What the platform reads: the resource definitions (ResourceDefinitions is one). */
export interface PlatformDefinitions extends ProvisionDefinitions {
  readonly functions: Readonly<Record<string, LocalFunctionDefinition>>;
  readonly routes: readonly LocalRoute[];
}

export interface PlatformOptions {
  /** Absolute path; emulator data lives under it. */
  readonly dataDir: string;
  /** Gateway port on 127.0.0.1; 0 picks a free one. */
  readonly port: number;
  /** The operator key, or a function giving it once the gateway has its port. */
  readonly operatorKey: string | (() => string);
  /** Runs once the gateway holds its port, before anything else starts (checks, data dir setup). */
  readonly beforeStart?: () => void | Promise<void>;
  readonly definitions?: PlatformDefinitions;
  /** Directory function entries are relative to. */
  readonly rootDir?: string;
  /** Functions' LOG_LEVEL. */
  readonly functionLogLevel?: string;
  /** Defaults to the gateway's URL. */
  readonly publicBaseUrl?: string;
  readonly logger?: Logger;
  /** Long-poll wait of the queue pollers. */
  readonly pollWaitSeconds?: number;
  /** Serve the gateway's test hooks (moving the functions' clock). */
  readonly testHooks?: boolean;
}

export interface Platform {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly endpoints: Endpoints;
  readonly provisioned: Provisioned;
  /** The environment the functions run with. */
  readonly env: Readonly<Record<string, string>>;
  readonly emulators: Emulators;
  stop(): Promise<void>;
}

/** The event an EventBridge scheduled rule delivers. */
function scheduledEvent(functionName: string) {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [`arn:aws:events:us-east-1:000000000000:rule/parley-local-${functionName}`],
    detail: {},
  };
}

export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const definitions: PlatformDefinitions = options.definitions ?? (resources satisfies ResourceDefinitions);
  const logger = options.logger ?? createLogger({ level: 'SILENT' });
  const cleanups = cleanupStack(logger);

  try {
    // The web app, built in memory (esbuild, a fraction of a second) before the port opens.
    const webFiles = await buildWeb();
    // Known once the emulators run; the gateway serves nothing before (503 until attached).
    let uploadOrigin: string | undefined;
    const gateway = new Gateway({
      routes: definitions.routes,
      logger: logger.child('gateway'),
      testHooks: options.testHooks,
      web: (path) => serveWeb(webFiles, path, uploadOrigin),
    });
    const port = await gateway.listen(options.port);
    cleanups.push(() => gateway.close());

    await options.beforeStart?.();
    mkdirSync(options.dataDir, { recursive: true });
    const operatorKey =
      typeof options.operatorKey === 'function' ? options.operatorKey() : options.operatorKey;
    const emulators = await startEmulators({ dataDir: options.dataDir, logger: logger.child('emulators') });
    cleanups.push(() => emulators.stop());

    uploadOrigin = new URL(emulators.endpoints.s3).origin;
    const clients: LocalClients = createClients(emulators.endpoints);
    cleanups.push(() => clients.destroy());

    const provisioned = await provision({
      clients,
      sqsEndpoint: emulators.endpoints.sqs,
      definitions,
      logger: logger.child('provision'),
    });

    const url = gateway.url;
    const { env, functions } = hostFunctions(options, definitions, logger, {
      provisioned,
      endpoints: emulators.endpoints,
      operatorKey,
      publicBaseUrl: options.publicBaseUrl ?? url,
    });

    const forwarder = startS3Forwarding(provisioned, emulators, clients, logger);
    cleanups.push(() => forwarder.stop());
    const pollers = startPollers(
      definitions,
      provisioned,
      clients,
      functions,
      options.pollWaitSeconds,
      logger,
    );
    cleanups.push(() => Promise.all(pollers.map((poller) => poller.stop())).then(() => undefined));
    cleanups.push(startSchedules(definitions, functions, logger));

    gateway.attach(functions);
    return {
      url,
      port,
      dataDir: options.dataDir,
      endpoints: emulators.endpoints,
      provisioned,
      env,
      emulators,
      // The gateway stops taking requests first; the rest stops in reverse order of starting.
      async stop() {
        await gateway.close();
        await cleanups.run();
      },
    };
  } catch (error) {
    await cleanups.run();
    throw error;
  }
}

/** Steps that undo what started, run in reverse order; a failing step is logged and the rest still run. */
function cleanupStack(logger: Logger) {
  const steps: (() => Promise<void> | void)[] = [];
  return {
    push: (step: () => Promise<void> | void) => steps.push(step),
    async run() {
      for (const step of steps.reverse()) {
        try {
          await step();
        } catch (error) {
          logger.warn('a component did not stop cleanly', { error });
        }
      }
      steps.length = 0;
    },
  };
}

/** The functions' environment (set on this process, where they run) and the host that runs them. */
function hostFunctions(
  options: PlatformOptions,
  definitions: PlatformDefinitions,
  logger: Logger,
  platform: Omit<LambdaEnvironmentOptions, 'dataDir' | 'logLevel'>,
): { env: Record<string, string>; functions: FunctionHost } {
  const env = lambdaEnvironment({
    ...platform,
    dataDir: options.dataDir,
    logLevel: options.functionLogLevel,
  });
  applyLambdaEnvironment(env);
  const functions = new FunctionHost({
    functions: definitions.functions,
    rootDir: options.rootDir ?? REPO_ROOT,
    logger: logger.child('lambda'),
  });
  return { env, functions };
}

/** Forwards the S3 emulator's object events to the queue each bucket notifies. */
function startS3Forwarding(
  provisioned: Provisioned,
  emulators: Emulators,
  clients: LocalClients,
  logger: Logger,
): S3EventForwarder {
  const targets: Record<string, string> = {};
  for (const bucket of Object.values(provisioned.buckets)) {
    const queue = bucket.notifyQueue === undefined ? undefined : provisioned.queues[bucket.notifyQueue];
    if (queue) targets[bucket.name] = queue.url;
  }
  return new S3EventForwarder({
    source: emulators.s3.server,
    sqs: clients.sqs,
    targets,
    logger: logger.child('s3-events'),
  }).start();
}

/** A poller per function that consumes a queue, as Lambda's event source mappings would. */
function startPollers(
  definitions: PlatformDefinitions,
  provisioned: Provisioned,
  clients: LocalClients,
  functions: FunctionHost,
  waitTimeSeconds: number | undefined,
  logger: Logger,
): QueuePoller[] {
  const pollers: QueuePoller[] = [];
  for (const [name, definition] of Object.entries(definitions.functions)) {
    const consumes = definition.consumes;
    if (!consumes) continue;
    const queue = provisioned.queues[consumes.queue];
    if (!queue) throw new Error(`Function ${name} consumes queue ${consumes.queue}, which is not declared`);
    pollers.push(
      new QueuePoller({
        sqs: clients.sqs,
        queueUrl: queue.url,
        queueArn: queue.arn,
        fifo: queue.fifo,
        batchSize: consumes.batchSize,
        maxConcurrency: consumes.maxConcurrency,
        waitTimeSeconds,
        name: `${name}←${consumes.queue}`,
        logger: logger.child('poller'),
        invoke: (event) => functions.invoke(name, event),
      }).start(),
    );
  }
  return pollers;
}

/** Invokes the scheduled functions as EventBridge rate rules would; returns what stops them. */
function startSchedules(
  definitions: PlatformDefinitions,
  functions: FunctionHost,
  logger: Logger,
): () => void {
  const timers: NodeJS.Timeout[] = [];
  for (const [name, definition] of Object.entries(definitions.functions)) {
    const schedule = definition.schedule;
    if (!schedule) continue;
    const timer = setInterval(() => {
      void functions.invoke(name, scheduledEvent(name)).then((outcome) => {
        if (outcome.status !== 'ok')
          logger.warn('scheduled function failed', { function: name, outcome: outcome.status });
      });
    }, schedule.rateMinutes * 60_000);
    timer.unref();
    timers.push(timer);
  }
  return () => {
    for (const timer of timers) clearInterval(timer);
  };
}
