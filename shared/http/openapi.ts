import * as z from 'zod';
import { ERROR_CODES } from '../domain/errors.ts';
import { type RouteDefinition, routeKey } from '../resources.ts';
import type { RouteDoc } from './router.ts';

type Json = Record<string, unknown>;

const ErrorSchema = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      details: z.unknown().optional(),
      requestId: z.string(),
    }),
  })
  .meta({ id: 'Error' });

/** Converts zod schemas to OpenAPI ones, hoisting named schemas into `components`. */
type ToSchema = (schema: z.ZodType, io: 'input' | 'output') => Json;
/** What describing an operation needs: the converter, and the error envelope's schema reference. */
interface Describe {
  toSchema: ToSchema;
  errorRef: Json;
}

function schemaConverter(components: Record<string, unknown>): ToSchema {
  return (schema, io) => {
    const raw = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Json;
    const rewritten = JSON.parse(
      JSON.stringify(raw).replaceAll('#/definitions/', '#/components/schemas/'),
    ) as Json;
    const { definitions: hoisted, ...rest } = rewritten as Json & { definitions?: Record<string, unknown> };
    Object.assign(components, hoisted ?? {});
    return rest;
  };
}

/** A route's path parameters, then its query parameters. */
function parametersOf(definition: RouteDefinition, spec: RouteDoc, toSchema: ToSchema): Json[] {
  const parameters: Json[] = [...definition.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
    name: m[1],
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  if (spec.query) {
    const query = toSchema(spec.query, 'input') as {
      properties?: Record<string, unknown>;
      required?: string[];
    };
    for (const [name, schema] of Object.entries(query.properties ?? {})) {
      parameters.push({ name, in: 'query', required: query.required?.includes(name) ?? false, schema });
    }
  }
  return parameters;
}

/** A route's responses: its own, and the error envelope's that every route of its kind may give. */
function responsesOf(definition: RouteDefinition, spec: RouteDoc, { toSchema, errorRef }: Describe): Json {
  const errorResponse = (description: string) => ({
    description,
    content: { 'application/json': { schema: errorRef } },
  });
  const responses: Json = {};
  for (const [status, response] of Object.entries(spec.responses)) {
    responses[status] = response.schema
      ? {
          description: response.description,
          content: { 'application/json': { schema: toSchema(response.schema, 'output') } },
        }
      : { description: response.description };
  }
  if (spec.body)
    responses['400'] = errorResponse('Invalid body: `details` lists each field path and problem');
  if (definition.auth !== 'none') responses['401'] = errorResponse('Missing, invalid or revoked key');
  if (definition.path.includes('{')) responses['404'] = errorResponse('Unknown id, or another tenant’s');
  responses['500'] = errorResponse('Internal error; quote the requestId');
  return responses;
}

function operationOf(definition: RouteDefinition, spec: RouteDoc, describe: Describe): Json {
  const { toSchema } = describe;
  // In this order, as named schemas are hoisted into components in the order they are met.
  const parameters = parametersOf(definition, spec, toSchema);
  const responses = responsesOf(definition, spec, describe);
  const method = definition.method.toLowerCase();
  return {
    summary: spec.summary,
    operationId: `${method}${definition.path.replace(/[{}]/g, '').replace(/[/.](\w)/g, (_, c: string) => c.toUpperCase())}`,
    security:
      definition.auth === 'none'
        ? []
        : [{ [definition.auth === 'operator' ? 'operatorKey' : 'tenantKey']: [] }],
    parameters,
    ...(spec.body && {
      requestBody: {
        required: true,
        content: { 'application/json': { schema: toSchema(spec.body, 'input') } },
      },
    }),
    responses,
  };
}

/**
 * Builds the OpenAPI 3.0 document from the route table and the same zod schemas that validate
 * requests, so the published contract cannot drift from what the handlers accept. Named schemas
 * (`.meta({id})`) are hoisted into components.
 */
export function buildOpenApi(
  definitions: readonly RouteDefinition[],
  specs: Readonly<Record<string, RouteDoc>>,
  version: string,
): Json {
  const components: Record<string, unknown> = {};
  const toSchema = schemaConverter(components);
  // The envelope first, as every operation refers to it.
  const describe = { toSchema, errorRef: toSchema(ErrorSchema, 'output') };
  const paths: Record<string, Json> = {};
  for (const definition of definitions) {
    const spec = specs[routeKey(definition)];
    if (!spec) continue;
    paths[definition.path] ??= {};
    (paths[definition.path] as Json)[definition.method.toLowerCase()] = operationOf(
      definition,
      spec,
      describe,
    );
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Parley API',
      version,
      description:
        'Multi-tenant chatbot builder. Errors use one envelope: {"error": {code, message, details?, requestId}}.',
    },
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        operatorKey: { type: 'http', scheme: 'bearer', description: 'The platform operator key' },
        tenantKey: { type: 'http', scheme: 'bearer', description: 'A tenant admin key, pk_<keyId>_<secret>' },
      },
    },
  };
}
