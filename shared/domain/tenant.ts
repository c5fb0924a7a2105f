import * as z from 'zod';

export const MiB = 1024 * 1024;

export const PlanSchema = z
  .strictObject({
    monthlyMessages: z.int().min(0).max(1_000_000_000),
    monthlyTokens: z.int().min(0).max(1_000_000_000_000),
    maxUploadBytes: z
      .int()
      .min(1024)
      .max(100 * MiB),
    maxDocuments: z.int().min(0).max(1_000_000),
    monthlyCostUsd: z
      .number()
      .min(0)
      .max(10_000_000)
      // DynamoDB numbers stop at 1e-130; nobody caps spending below a cent.
      .refine((usd) => usd === 0 || usd >= 0.01, 'must be 0 or at least 0.01 (one cent)')
      .nullable()
      .optional()
      .meta({
        description:
          "The most the month may cost in model usage (USD, priced from the deployment's model list); absent or null: no cap.",
      }),
  })
  .meta({
    id: 'Plan',
    description: 'Monthly quotas and knowledge-base limits; the period is the calendar month in UTC.',
  });

export type Plan = z.infer<typeof PlanSchema>;

export const DEFAULT_PLAN: Plan = {
  monthlyMessages: 10_000,
  monthlyTokens: 5_000_000,
  maxUploadBytes: 16 * MiB,
  maxDocuments: 500,
};

const name = z.string().trim().min(1).max(100);

export const TenantCreateSchema = z
  .strictObject({ name, plan: PlanSchema.partial().optional() })
  .meta({ id: 'TenantCreate' });

export const TenantPatchSchema = z
  .strictObject({ name: name.optional(), plan: PlanSchema.partial().optional() })
  .meta({ id: 'TenantPatch' });

export interface Tenant {
  id: string;
  name: string;
  plan: Plan;
  createdAt: string;
  updatedAt: string;
}

export const TenantSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    plan: PlanSchema,
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'Tenant' });
