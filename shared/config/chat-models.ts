import type { ChatModel, ChatProvider } from '../ports/chat-model.ts';
import { optional, readEnv } from './env.ts';

/**
 * The chat model for each provider a bot may name, built on first use and kept for the
 * container's life. Hosted SDKs load only when a bot uses them.
 */
export function createChatModelFactory(): (provider: ChatProvider) => Promise<ChatModel> {
  const models = new Map<ChatProvider, Promise<ChatModel>>();
  const build = async (provider: ChatProvider): Promise<ChatModel> => {
    switch (provider) {
      case 'local': {
        const { createLocalChatModel } = await import('../adapters/chat/local.ts');
        return createLocalChatModel();
      }
      case 'bedrock': {
        const { createBedrockChatModel, createBedrockRuntimeClient } = await import(
          '../adapters/chat/bedrock.ts'
        );
        return createBedrockChatModel({ client: createBedrockRuntimeClient() });
      }
      case 'openai': {
        const env = readEnv({
          OPENAI_API_KEY: optional,
          OPENAI_API_KEY_SECRET_ARN: optional,
          OPENAI_BASE_URL: optional,
        });
        const [{ default: OpenAI }, { createOpenAIChatModel }, { resolveOpenAIKey }] = await Promise.all([
          import('openai'),
          import('../adapters/chat/openai.ts'),
          import('../adapters/openai-key.ts'),
        ]);
        const client = new OpenAI({ apiKey: await resolveOpenAIKey(env), baseURL: env.OPENAI_BASE_URL });
        return createOpenAIChatModel({ client });
      }
    }
  };
  return (provider) => {
    let model = models.get(provider);
    if (!model) {
      model = build(provider);
      models.set(provider, model);
      model.catch(() => models.delete(provider));
    }
    return model;
  };
}
