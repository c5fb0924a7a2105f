// The API's shapes as the console reads them (DESIGN.md §5). Declared here, or imported from
// shared/ as types only (erased from the bundle, so it never pulls in the server's validation
// library) where the API sends the domain's own shape.

import type { toSessionView } from '../../shared/domain/session.ts';

export type { Citation, StoredMessage } from '../../shared/domain/session.ts';

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
  unsupportedMessage: string;
  model: { provider: 'local' | 'bedrock' | 'openai'; id?: string };
  temperature: number;
  maxTokens: number;
  retrieval: { topK: number; minScore: number };
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

export type DocumentStatus = 'awaiting_upload' | 'processing' | 'ready' | 'failed';

export interface KnowledgeDocument {
  id: string;
  filename: string;
  contentType: string;
  size: number;
  status: DocumentStatus;
  chunksTotal: number;
  chunksIndexed: number;
  error?: string;
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

export const CHANNEL_TYPES = ['telegram', 'whatsapp', 'messenger', 'instagram'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

export interface Channel {
  type: ChannelType;
  status: 'connected' | 'error';
  webhookUrl: string;
  lastInboundAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  credentials: Record<string, string>;
  createdAt: string;
  updatedAt: string;
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
  };
}

/** A conversation as the admin API shows it: not the stored session (its `expiresAt` is an ISO time here). */
export type ChatSession = ReturnType<typeof toSessionView>;

export interface Plan {
  monthlyMessages: number;
  monthlyTokens: number;
  maxUploadBytes: number;
  maxDocuments: number;
}

export interface Tenant {
  id: string;
  name: string;
  plan: Plan;
  createdAt: string;
  updatedAt: string;
}
