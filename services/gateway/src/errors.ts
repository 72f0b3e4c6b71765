// Gateway-specific failure mapping: undici's error codes → Turnpike error codes.
import { httpStatusFor, type ErrorCode } from '@turnpike/common';

/** Recorded in call logs when the client went away before the response was complete. */
export const CLIENT_CLOSED_CODE: ErrorCode = 'TP_ERR_CLIENT_CLOSED';
export const CLIENT_CLOSED_STATUS = httpStatusFor(CLIENT_CLOSED_CODE);

export function upstreamErrorCode(err: unknown): ErrorCode {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return 'TP_ERR_UPSTREAM_TIMEOUT';
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_INVALID_ARG':
      return 'TP_ERR_BAD_REQUEST';
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_RES_EXCEEDED_MAX_SIZE':
    case 'UND_ERR_HEADERS_OVERFLOW':
      return 'TP_ERR_UPSTREAM_BAD_RESPONSE';
    default:
      return 'TP_ERR_UPSTREAM_UNAVAILABLE';
  }
}
