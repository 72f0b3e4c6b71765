// The events a WebSocket API's backends receive, field for field as AWS API Gateway sends them to a Lambda
// proxy integration (CONNECT, MESSAGE, DISCONNECT): an HTTP backend gets the same JSON as its POST body.

export type WsEventType = 'CONNECT' | 'MESSAGE' | 'DISCONNECT';

/** What every event of one connection shares (built once, at the upgrade). */
export interface ConnectionFacts {
  connectionId: string;
  apiId: string;
  stage: string;
  domainName: string;
  connectedAt: number;
  sourceIp: string;
  userAgent: string;
  /** The authenticated caller (AWS: the authorizer's principalId and context); null when anonymous. */
  authorizer: Record<string, string> | null;
  /** $connect and $disconnect carry the upgrade request's headers and query (AWS does). */
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  queryStringParameters: Record<string, string> | null;
  multiValueQueryStringParameters: Record<string, string[]> | null;
}

export interface WsEventExtras {
  routeKey: string;
  requestId: string;
  /** MESSAGE only. */
  messageId?: string;
  body?: string;
  isBase64Encoded?: boolean;
  /** DISCONNECT only: the close code and reason. */
  disconnectStatusCode?: number;
  disconnectReason?: string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => (n < 10 ? '0' + n : String(n));

/** AWS's `requestTime`: `09/Feb/2024:18:11:43 +0000`. */
export function requestTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

export function wsEvent(type: WsEventType, c: ConnectionFacts, x: WsEventExtras, now: number): Record<string, unknown> {
  const requestContext: Record<string, unknown> = {
    routeKey: x.routeKey,
    eventType: type,
    extendedRequestId: x.requestId,
    requestTime: requestTime(now),
    messageDirection: 'IN',
    stage: c.stage,
    connectedAt: c.connectedAt,
    requestTimeEpoch: now,
    identity: c.userAgent !== '' ? { userAgent: c.userAgent, sourceIp: c.sourceIp } : { sourceIp: c.sourceIp },
    requestId: x.requestId,
    domainName: c.domainName,
    connectionId: c.connectionId,
    apiId: c.apiId,
  };
  if (x.messageId !== undefined) requestContext.messageId = x.messageId;
  if (x.disconnectStatusCode !== undefined) requestContext.disconnectStatusCode = x.disconnectStatusCode;
  if (x.disconnectReason !== undefined) requestContext.disconnectReason = x.disconnectReason;
  if (c.authorizer !== null) requestContext.authorizer = c.authorizer;
  const event: Record<string, unknown> = {};
  if (type !== 'MESSAGE') {
    event.headers = c.headers;
    event.multiValueHeaders = c.multiValueHeaders;
    if (type === 'CONNECT') {
      if (c.queryStringParameters !== null) event.queryStringParameters = c.queryStringParameters;
      if (c.multiValueQueryStringParameters !== null) event.multiValueQueryStringParameters = c.multiValueQueryStringParameters;
    }
  }
  event.requestContext = requestContext;
  if (x.body !== undefined) event.body = x.body;
  event.isBase64Encoded = x.isBase64Encoded ?? false;
  return event;
}
