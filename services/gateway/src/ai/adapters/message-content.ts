// Reading OpenAI message content for providers with other shapes: plain text, and image URLs split into
// inline data or a remote reference.
import { AiRequestError } from '../request-error.js';
import type { ChatMessage, ContentPart } from '../wire.js';

/** The text of a message's content (text parts joined with no separator, as OpenAI reads them); other parts refused. */
export function textOf(content: ChatMessage['content'], param: string, providerName: string): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  let text = '';
  content.forEach((p, i) => {
    if (p.type === 'text' && typeof p.text === 'string') text += p.text;
    else throw new AiRequestError(`${providerName} accepts only text parts here, not ${JSON.stringify(p.type)}`, `${param}[${i}]`, 'unsupported_content');
  });
  return text;
}

/** Content as a list of parts (a string is one text part). */
export function partsOf(content: ChatMessage['content']): ContentPart[] {
  if (content === undefined || content === null) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  return content;
}

export type ImageSource = { kind: 'inline'; mediaType: string; data: string } | { kind: 'url'; url: string };

/** An `image_url` part's URL: a base64 data URL, or an http(s) URL the provider fetches. */
export function imageSource(part: ContentPart, param: string): ImageSource {
  const iu = (part as { image_url?: unknown }).image_url;
  const url = typeof iu === 'string' ? iu : typeof iu === 'object' && iu !== null ? (iu as { url?: unknown }).url : undefined;
  if (typeof url !== 'string') throw new AiRequestError('image_url part without a url', param, 'invalid_image_url');
  const m = /^data:([^;,]+)((?:;[^;,]*)*);base64,(.*)$/s.exec(url);
  if (m) return { kind: 'inline', mediaType: m[1]!.toLowerCase(), data: m[3]! };
  if (url.startsWith('data:')) throw new AiRequestError('image data URLs must be base64 encoded', param, 'invalid_image_url');
  if (/^https?:\/\//i.test(url)) return { kind: 'url', url };
  throw new AiRequestError('image_url must be an http(s) URL or a base64 data URL', param, 'invalid_image_url');
}
