import { type ChatModel, ChatModelUnavailableError, type ChatProvider } from '../ports/chat-model.ts';
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
        if (!env.OPENAI_API_KEY && !env.OPENAI_API_KEY_SECRET_ARN) {
          // A bot may name OpenAI in a deployment without its key: the bot answers with its
          // fallback message, and the log says why.
          throw new ChatModelUnavailableError(
            'OpenAI is not configured: set openAiSecretArn in the stack config (OPENAI_API_KEY locally)',
            { provider: 'openai', reason: 'not_configured' },
          );
        }
        const apiKey = await resolveOpenAIKey(env).catch((cause: unknown) => {
          throw new ChatModelUnavailableError('the OpenAI API key could not be read', {
            provider: 'openai',
            reason: 'unavailable',
            cause,
          });
        });
        const client = new OpenAI({ apiKey, baseURL: env.OPENAI_BASE_URL });
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
