// The AI runtime writes its answers to the proxy's exchange through the integrations' sink (integrations/sink.ts).
export type { IntegrationSink as AiSink } from '../integrations/sink.js';
