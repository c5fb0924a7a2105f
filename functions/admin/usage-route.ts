import { json } from '../../shared/http/response.ts';
import { defineRoute, type RouteSpec, tenantOf } from '../../shared/http/router.ts';
import {
  getUsage,
  MAX_USAGE_DAYS,
  UsageQuerySchema,
  type UsageReadDeps,
  UsageReportSchema,
} from '../../shared/usecases/usage.ts';

/** `GET /admin/usage?from&to[&botId]` (tenant key). */
export function usageRoute(deps: () => UsageReadDeps): RouteSpec {
  return defineRoute({
    summary: `Usage per day (at most ${MAX_USAGE_DAYS} days, UTC) with totals and the current month's quotas`,
    query: UsageQuerySchema,
    responses: {
      200: { description: 'Days in order, zeros where nothing was used', schema: UsageReportSchema },
      400: { description: 'A date is malformed, `to` is before `from`, or the range is too long' },
      404: { description: 'No such bot' },
    },
    run: async ({ principal, query }) => json(200, await getUsage(deps(), tenantOf(principal), query)),
  });
}
