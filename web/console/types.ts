// The API's shapes as the console reads them (DESIGN.md §5). Declared here, or imported from
// shared/ as types only (erased from the bundle, so it never pulls in the server's validation
// library) where the API sends the domain's own shape.

import type { ApiKeyView } from '../../shared/domain/api-key.ts';
import type { ChannelView } from '../../shared/domain/channel.ts';
import type { DocumentView } from '../../shared/domain/document.ts';
import type { toSessionView } from '../../shared/domain/session.ts';

export type { DocumentStatus } from '../../shared/domain/document.ts';
export type { Citation, StoredMessage } from '../../shared/domain/session.ts';
export type { Plan, Tenant } from '../../shared/domain/tenant.ts';

/** A document as the API shows it. */
export type KnowledgeDocument = DocumentView;
/** A tenant API key as the API lists it: masked, the secret itself is shown only when made. */
export type ApiKey = ApiKeyView;
/** A channel connection as the API shows it (credentials masked). */
export type Channel = ChannelView;

export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}

export interface Bot {
  id: string;
  tenantId: string;
  name: string;
  description: string;
  persona: string;
  systemPrompt: string;
  greeting: string;
  fallbackMessage: string;
  noAnswerMessage: string;
  unsupportedMessage: string;
  model: { provider: 'local' | 'bedrock' | 'openai'; id?: string };
  temperature: number;
  maxTokens: number;
  retrieval: {
    topK: number;
    minScore: number;
    mode: 'hybrid' | 'vector' | 'keyword';
    keywordCoverage: number;
    abstain: boolean;
    rerank: boolean;
  };
  chunking: { size: number; overlap: number };
  historyTurns: number;
  sessionTtlSeconds: number;
  rateLimits: { perMinute: number; perSecond: number; perUserPerMinute: number };
  visibility: 'public' | 'private';
  allowedOrigins: string[];
  branding: {
    title: string;
    color: string;
    position: 'bottom-right' | 'bottom-left';
    logoUrl: string | null;
  };
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface DocumentUpload {
  document: KnowledgeDocument;
  upload: { url: string; fields: Record<string, string> };
}

export interface SearchResult {
  documentId: string;
  filename: string;
  page?: number;
  heading?: string;
  text: string;
  score: number;
}

export interface UsageCounters {
  messages: number;
  inputTokens: number;
  outputTokens: number;
  embeddingTokens: number;
  costUsd: number;
}

export interface UsageReport {
  days: (UsageCounters & { date: string })[];
  totals: UsageCounters;
  quota: {
    period: string;
    messagesUsed: number;
    messagesLimit: number;
    tokensUsed: number;
    tokensLimit: number;
    costUsd: number;
    /** The plan's monthlyCostUsd; null: no cap. */
    costLimitUsd: number | null;
  };
}

/** A conversation as the admin API shows it: not the stored session (its `expiresAt` is an ISO time here). */
export type ChatSession = ReturnType<typeof toSessionView>;
