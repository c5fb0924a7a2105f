import { z } from 'zod';

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
