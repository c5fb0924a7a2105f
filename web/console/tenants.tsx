// The operator's screen: tenants with their plans. Creating one shows its first admin key once
// (the API cannot show it again); plans can be changed and tenants deleted with all they own.

import { useState } from 'preact/hooks';
import { formatBytes, formatDate, formatNumber } from './format.ts';
import { LoadMore, pagePath, usePaged } from './paging.tsx';
import { useConsole } from './session.ts';
import type { Page, Plan, Tenant } from './types.ts';
import {
  ConfirmDelete,
  CopyBox,
  ErrorAlert,
  fieldErrors,
  InputField,
  isNotFound,
  Loading,
  Status,
  useSubmit,
  useTitle,
} from './ui.tsx';

/** The plan's limits this form edits (the plan may hold others, which it leaves as they are). */
type PlanField = 'monthlyMessages' | 'monthlyTokens' | 'monthlyCostUsd' | 'maxUploadBytes' | 'maxDocuments';

const PLAN_FIELDS: readonly {
  name: PlanField;
  label: string;
  placeholder: string;
  hint?: string;
  /** Dollars and cents, and empty means "no cap" rather than the default. */
  money?: boolean;
}[] = [
  { name: 'monthlyMessages', label: 'Monthly messages', placeholder: '10000' },
  { name: 'monthlyTokens', label: 'Monthly tokens', placeholder: '5000000' },
  {
    name: 'monthlyCostUsd',
    label: 'Monthly cost cap (USD)',
    placeholder: 'No cap',
    hint: 'Model usage at list prices; bots refuse new messages once it is reached. Empty: no cap.',
    money: true,
  },
  {
    name: 'maxUploadBytes',
    label: 'Max upload size (bytes)',
    placeholder: '16777216',
    hint: '16 MiB is 16777216.',
  },
  { name: 'maxDocuments', label: 'Max documents', placeholder: '500' },
];

type PlanDraft = Record<PlanField, string>;

const planDraft = (plan?: Plan): PlanDraft => ({
  monthlyMessages: plan ? String(plan.monthlyMessages) : '',
  monthlyTokens: plan ? String(plan.monthlyTokens) : '',
  monthlyCostUsd: plan?.monthlyCostUsd == null ? '' : String(plan.monthlyCostUsd),
  maxUploadBytes: plan ? String(plan.maxUploadBytes) : '',
  maxDocuments: plan ? String(plan.maxDocuments) : '',
});

/** The plan fields given (empty ones take the default), numbers as numbers; anything else as typed for the API to name. */
function planBody(draft: PlanDraft): Partial<Record<PlanField, unknown>> {
  const body: Partial<Record<PlanField, unknown>> = {};
  for (const { name, money } of PLAN_FIELDS) {
    const value = draft[name].trim();
    if (!value) {
      if (money) body[name] = null;
      continue;
    }
    const parsed = Number(value);
    body[name] = Number.isFinite(parsed) ? parsed : value;
  }
  return body;
}

function PlanFields(props: {
  prefix: string;
  draft: PlanDraft;
  errors: Record<string, string>;
  onChange: (d: PlanDraft) => void;
}) {
  return (
    <>
      {PLAN_FIELDS.map((field) => (
        <InputField
          key={field.name}
          id={`${props.prefix}-${field.name}`}
          label={field.label}
          hint={field.hint}
          error={props.errors[`plan.${field.name}`]}
          type="number"
          min={0}
          step={field.money ? '0.01' : '1'}
          inputMode={field.money ? 'decimal' : 'numeric'}
          placeholder={field.placeholder}
          value={props.draft[field.name]}
          onValue={(value) => props.onChange({ ...props.draft, [field.name]: value })}
        />
      ))}
    </>
  );
}

export function Tenants() {
  useTitle('Tenants');
  const { call } = useConsole();
  const list = usePaged((cursor) => call<Page<Tenant>>(pagePath('/admin/tenants', cursor)), []);
  const [status, setStatus] = useState('');

  const replace = (tenant: Tenant) =>
    list.setData(
      (page) => page && { ...page, items: page.items.map((t) => (t.id === tenant.id ? tenant : t)) },
    );
  const items = list.data?.items ?? [];

  return (
    <section>
      <h1>Tenants</h1>
      <CreateTenant
        onCreated={(tenant) =>
          list.setData((page) => ({ items: [tenant, ...(page?.items ?? [])], nextCursor: page?.nextCursor }))
        }
      />
      <h2>All tenants</h2>
      <Status>{status}</Status>
      {list.error ? <ErrorAlert error={list.error} /> : null}
      {!list.data && list.loading ? <Loading what="Loading tenants…" /> : null}
      {list.data && items.length === 0 ? <p class="pc-empty">No tenants yet.</p> : null}
      {items.length > 0 ? (
        <ul class="pc-list">
          {items.map((tenant) => (
            <TenantRow
              key={tenant.id}
              tenant={tenant}
              onChange={replace}
              onDeleted={() => {
                list.setData(
                  (page) => page && { ...page, items: page.items.filter((t) => t.id !== tenant.id) },
                );
                setStatus(`${tenant.name} deleted.`);
              }}
            />
          ))}
        </ul>
      ) : null}
      <LoadMore list={list} label="Load more tenants" />
    </section>
  );
}

function CreateTenant({ onCreated }: { onCreated: (tenant: Tenant) => void }) {
  const { call } = useConsole();
  const [name, setName] = useState('');
  const [plan, setPlan] = useState(planDraft);
  const { busy, error, run } = useSubmit();
  const [created, setCreated] = useState<{ tenant: Tenant; apiKey: string } | undefined>(undefined);
  const errors = fieldErrors(error);

  async function submit(event: Event) {
    event.preventDefault();
    await run(async () => {
      const body = planBody(plan);
      const answer = await call<{ tenant: Tenant; apiKey: string }>('/admin/tenants', {
        method: 'POST',
        body: { name, ...(Object.keys(body).length > 0 ? { plan: body } : {}) },
      });
      setCreated(answer);
      setName('');
      setPlan(planDraft());
      onCreated(answer.tenant);
    });
  }

  return (
    <div class="pc-card">
      <h2>New tenant</h2>
      {created ? (
        <div class="pc-alert pc-alert-success pc-new-key" role="status">
          <p>
            <strong>{created.tenant.name}</strong> was created. This is its admin key; it is shown only now,
            so copy it and hand it over safely.
          </p>
          <CopyBox text={created.apiKey} what="admin key" label="Admin key" />
          <button type="button" class="pc-secondary" onClick={() => setCreated(undefined)}>
            I have copied the key
          </button>
        </div>
      ) : null}
      <form onSubmit={submit} noValidate>
        {error ? (
          <ErrorAlert
            error={error}
            label={(path) => PLAN_FIELDS.find((f) => `plan.${f.name}` === path)?.label ?? path}
          />
        ) : null}
        <div class="pc-grid">
          <InputField
            id="pc-new-tenant-name"
            label="Name"
            error={errors.name}
            name="name"
            maxLength={100}
            value={name}
            onValue={setName}
          />
          <PlanFields prefix="pc-new-tenant" draft={plan} errors={errors} onChange={setPlan} />
        </div>
        <p class="pc-hint">Leave a plan field empty for its default.</p>
        <button type="submit" disabled={busy || !name.trim()}>
          {busy ? 'Creating…' : 'Create tenant'}
        </button>
      </form>
    </div>
  );
}

function TenantRow({
  tenant,
  onChange,
  onDeleted,
}: {
  tenant: Tenant;
  onChange: (t: Tenant) => void;
  onDeleted: () => void;
}) {
  const { call } = useConsole();
  const [editing, setEditing] = useState(false);
  const [status, setStatus] = useState('');
  const path = `/admin/tenants/${encodeURIComponent(tenant.id)}`;

  return (
    <li class="pc-list-item pc-tenant">
      <div>
        <span class="pc-list-title">{tenant.name}</span>
        <p class="pc-muted">
          {formatNumber(tenant.plan.monthlyMessages)} messages and {formatNumber(tenant.plan.monthlyTokens)}{' '}
          tokens a month · uploads up to {formatBytes(tenant.plan.maxUploadBytes)} ·{' '}
          {formatNumber(tenant.plan.maxDocuments)} documents · created {formatDate(tenant.createdAt)}
        </p>
        <p class="pc-muted">
          ID <code>{tenant.id}</code>
        </p>
        <Status>{status}</Status>
      </div>
      <div class="pc-actions">
        {!editing ? (
          <button
            type="button"
            class="pc-secondary"
            onClick={() => {
              setStatus('');
              setEditing(true);
            }}
            aria-label={`Edit plan of ${tenant.name}`}
          >
            Edit plan
          </button>
        ) : null}
        <ConfirmDelete
          what={`the tenant “${tenant.name}” with all its bots, documents and keys`}
          onConfirm={async () => {
            try {
              await call(path, { method: 'DELETE' });
            } catch (failure) {
              if (!isNotFound(failure)) throw failure; // already gone: the same result
            }
            onDeleted();
          }}
        />
      </div>
      {editing ? (
        <EditTenant
          tenant={tenant}
          path={path}
          onSaved={(saved) => {
            onChange(saved);
            setEditing(false);
            setStatus('Saved.');
          }}
          onCancel={() => setEditing(false)}
        />
      ) : null}
    </li>
  );
}

/** The name and plan of a tenant, starting from what it has now (the form is made afresh each time it opens). */
function EditTenant(props: {
  tenant: Tenant;
  path: string;
  onSaved: (saved: Tenant) => void;
  onCancel: () => void;
}) {
  const { tenant } = props;
  const { call } = useConsole();
  const [name, setName] = useState(tenant.name);
  const [plan, setPlan] = useState(() => planDraft(tenant.plan));
  const { busy, error, run } = useSubmit();
  const errors = fieldErrors(error);

  async function save(event: Event) {
    event.preventDefault();
    await run(async () => {
      const { tenant: saved } = await call<{ tenant: Tenant }>(props.path, {
        method: 'PATCH',
        body: { name, plan: planBody(plan) },
      });
      props.onSaved(saved);
    });
  }

  return (
    <form class="pc-edit-tenant" onSubmit={save} noValidate aria-label={`Plan of ${tenant.name}`}>
      {error && Object.keys(errors).length === 0 ? <ErrorAlert error={error} /> : null}
      <div class="pc-grid">
        <InputField
          id={`pc-tenant-${tenant.id}-name`}
          label="Name"
          error={errors.name}
          maxLength={100}
          value={name}
          onValue={setName}
        />
        <PlanFields prefix={`pc-tenant-${tenant.id}`} draft={plan} errors={errors} onChange={setPlan} />
      </div>
      <div class="pc-actions">
        <button type="submit" disabled={busy}>
          {busy ? 'Saving…' : 'Save'}
        </button>
        <button type="button" class="pc-secondary" onClick={props.onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}
