// For unit tests of steps that build a RequestContext by hand: the request-change and response methods,
// recording each call (so a test can assert what a step changed, and a step that changes nothing shows []),
// and a fixed request id.
import type { RequestContext, ResponseHook } from './request-context.js';

export type RecordedChange =
  | ['ownResponseHeaders', string]
  | ['setRequestHeader', string, string]
  | ['rewritePath', string]
  | ['setQuery', string]
  | ['setRequestBody', Buffer]
  | ['setMethod', string]
  | ['onResponse', ResponseHook];

export const TEST_REQUEST_ID = 'req-test-0001';

type ChangeMethods = Pick<RequestContext, 'requestId' | 'ownResponseHeaders' | 'setRequestHeader' | 'rewritePath' | 'setQuery' | 'setRequestBody' | 'setMethod' | 'onResponse'>;

export function recordingChanges(): ChangeMethods & { changes: RecordedChange[] } {
  const changes: RecordedChange[] = [];
  return {
    requestId: TEST_REQUEST_ID,
    changes,
    ownResponseHeaders: (prefix) => void changes.push(['ownResponseHeaders', prefix]),
    setRequestHeader: (name, value) => void changes.push(['setRequestHeader', name, value]),
    rewritePath: (path) => void changes.push(['rewritePath', path]),
    setQuery: (query) => void changes.push(['setQuery', query]),
    setRequestBody: (body) => void changes.push(['setRequestBody', body]),
    setMethod: (method) => void changes.push(['setMethod', method]),
    onResponse: (hook) => void changes.push(['onResponse', hook]),
  };
}
