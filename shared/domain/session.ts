import * as z from 'zod';
import type { ChannelType } from './channel.ts';

/** Where a conversation happens: the web, the API, or a messaging channel (whose user it belongs to). */
export type SessionChannel = 'web' | 'api' | ChannelType;

/** A messaging channel's session: one per platform user, reached only there. */
export const isMessagingChannel = (channel: SessionChannel): boolean =>
  channel !== 'web' && channel !== 'api';

export interface ChatSession {
  id: string;
  tenantId: string;
  botId: string;
  channel: SessionChannel;
  /** A hash of who is talking (web: session + IP; channels: the platform user); never raw data. */
  userKey: string;
  createdAt: string;
  lastMessageAt: string;
  /** Epoch seconds; the session and its messages are gone after this (read as absent at once). */
  expiresAt: number;
}

export interface Citation {
  /** The passage's number in the prompt, as the answer's `[n]` markers refer to it. */
  n: number;
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
  /** Time to the full answer, for assistant messages. */
  latencyMs?: number;
  citations?: Citation[];
  fallback?: boolean;
  /** Present (false) when the bot did not answer: nothing relevant found, or the provider down. */
  answered?: boolean;
}

export const CitationSchema = z
  .object({
    n: z.int().describe('The number the reply’s [n] markers use for this passage'),
    documentId: z.string(),
    filename: z.string(),
    page: z.int().optional(),
    heading: z.string().optional(),
    snippet: z.string(),
    score: z.number(),
  })
  .meta({ id: 'Citation' });

export const SessionSchema = z
  .object({
    id: z.string(),
    channel: z.string(),
    createdAt: z.iso.datetime(),
    lastMessageAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
  })
  .meta({ id: 'Session' });

export const MessageSchema = z
  .object({
    id: z.string(),
    role: z.enum(['user', 'assistant']),
    content: z.string(),
    createdAt: z.iso.datetime(),
    inputTokens: z.int(),
    outputTokens: z.int(),
    latencyMs: z.number().optional(),
    citations: z.array(CitationSchema).optional(),
    fallback: z.boolean().optional(),
    answered: z.boolean().optional(),
  })
  .meta({ id: 'Message' });

export const toSessionView = (s: ChatSession) => ({
  id: s.id,
  channel: s.channel,
  createdAt: s.createdAt,
  lastMessageAt: s.lastMessageAt,
  expiresAt: new Date(s.expiresAt * 1000).toISOString(),
});
