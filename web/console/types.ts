// The API's shapes as the console reads them (DESIGN.md §5). Declared here rather than imported
// from shared/ so the bundle never pulls in the server's validation library.

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

export interface ChatSession {
  id: string;
  channel: string;
  createdAt: string;
  lastMessageAt: string;
  expiresAt: string;
}

export interface Citation {
  documentId: string;
  filename: string;
  page?: number;
  heading?: string;
  snippet: string;
  score: number;
}

export interface StoredMessage {
  id: string;
  role: 'user' | 'assistant';
  content: string;
  createdAt: string;
  inputTokens: number;
  outputTokens: number;
  latencyMs?: number;
  citations?: Citation[];
  fallback?: boolean;
}

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
